"""router/ is the pure-Python brain, in packages by concern whose import directions are fixed.

Importing all of router/ must not import Ray, FastAPI, vLLM or a provider SDK; each package imports only
the sibling packages its ``__init__`` names; and outside router/ it reads only the engine-kind table.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import router

FORBIDDEN = ("ray", "fastapi", "starlette", "vllm", "openai", "anthropic", "torch", "transformers")
ROOT = Path(router.__file__).parent

# package -> the sibling packages it may import (itself always). router/__init__.py says the same.
ALLOWED = {
    "core": set(),
    "storage": {"core"},
    "cascade": {"core"},
    "decision": {"core", "storage", "cascade"},
    "frontier": {"core", "storage"},
    "outcomes": {"core", "storage", "decision"},
    "admin": {"core", "storage", "frontier"},
    "evaluation": {"core", "decision", "frontier", "cascade"},
    "telemetry": {"core", "storage", "outcomes"},
    "tuning": {"core", "storage", "telemetry", "cascade", "evaluation"},
}
OUTSIDE_ROUTER = {"models.kinds"}  # the engine-kind table: standard library only


def _router_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(router.__path__, "router.")]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_router_imports_no_ray_web_framework_or_sdk():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in _router_modules())
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT.parent)
    assert result.stdout.strip() == "", f"router/ pulled in: {result.stdout.strip()}"


def test_every_router_module_lives_in_a_package_with_known_directions():
    loose = sorted(p.name for p in ROOT.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside a package: {loose}"
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
    assert packages == sorted(ALLOWED)
    for name in packages:
        doc = ast.get_docstring(ast.parse((ROOT / name / "__init__.py").read_text()))
        assert doc and "May import:" in doc, f"router/{name}/__init__.py must say what it may import"


def _violations(root: Path) -> list[str]:
    """Every import in a package of ``root`` that crosses a direction its __init__ does not allow."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            continue
        package = parts[0]
        for module in sorted(_imports(path)):
            top, _, rest = module.partition(".")
            if top in ("models", "deployments") and module not in OUTSIDE_ROUTER:
                wrong.append(f"{path.relative_to(root)} imports {module}")
            sibling = rest.split(".")[0]
            if top == "router" and sibling and sibling != package and sibling not in ALLOWED.get(package, set()):
                wrong.append(f"{path.relative_to(root)} imports {module} ({package} -> {sibling})")
    return wrong


def test_packages_import_only_in_the_allowed_directions():
    wrong = _violations(ROOT)
    assert wrong == [], "\n".join(wrong)


def test_the_boundary_check_catches_a_wrong_direction(tmp_path):
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "bad.py").write_text(
        "from router.core.errors import RouterError\n"       # allowed: storage -> core
        "from router.decision.dispatcher import Dispatcher\n"  # not allowed: storage -> decision
        "import models.factory\n"                             # not allowed: only models.kinds
        "from models.kinds import ENGINE_KINDS\n")
    assert _violations(tmp_path) == [
        "storage/bad.py imports models.factory",
        "storage/bad.py imports router.decision.dispatcher (storage -> decision)",
    ]
