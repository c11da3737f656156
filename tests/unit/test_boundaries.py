"""router/ is the pure-Python brain: importing all of it must not import Ray, FastAPI, vLLM or a provider SDK."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import router

FORBIDDEN = ("ray", "fastapi", "starlette", "vllm", "openai", "anthropic", "torch", "transformers")


def test_router_imports_no_ray_web_framework_or_sdk():
    modules = [f"router.{m.name}" for m in pkgutil.iter_modules(router.__path__)]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(router.__file__).parents[1])
    assert result.stdout.strip() == "", f"router/ pulled in: {result.stdout.strip()}"
