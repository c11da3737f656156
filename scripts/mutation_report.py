"""Summarise the last ``mutmut run`` into docs/mutation.md: the score per module, and every surviving mutant
with the line it changes and a class (message text, logging, or one that still needs a test).

    .venv/bin/mutmut run && python scripts/mutation_report.py [--output docs/mutation.md]

Reads mutmut's own records under ``mutants/`` (``*.py.meta``: the exit code of the tests per mutant) and the
mutated source beside them (each mutant is a copy of its function, ``x_<name>__mutmut_<n>``, beside the
original ``..._orig``), so it needs no mutmut command per mutant.
"""

import argparse
import ast
import difflib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Survivors judged equivalent (no caller can observe the change), each with its reason; matched by module,
# function and the mutated line, which survive renumbering when the module changes elsewhere.
EQUIVALENTS = ROOT / "docs" / "mutation_equivalents.json"
KILLED_CODES = {1, 3, -11, -9}  # a failing test (or a crash the mutant caused)
TIMEOUT_CODES = {36, -24, 24, 152, 255}


def status(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code in KILLED_CODES:
        return "killed"
    if code in TIMEOUT_CODES:
        return "timeout"
    return {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}.get(code, "suspicious")


def functions(path: Path) -> dict[str, str]:
    """Every function in the mutated module, by name, as source."""
    source = path.read_text()
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = ast.get_source_segment(source, node) or ""
    return found


def changed_line(mutant: str, original: str) -> tuple[str, str]:
    diff = [d for d in difflib.ndiff(original.splitlines(), mutant.splitlines()) if d[:2] in ("- ", "+ ")]
    before = next((d[2:].strip() for d in diff if d.startswith("- ")), "")
    after = next((d[2:].strip() for d in diff if d.startswith("+ ")), "")
    return before, after


def kind(before: str, after: str) -> str:
    if "log." in before or "logging" in before:
        return "logging only"
    if _strings_only(before, after):
        return "message text"
    return "needs a test"


def _strings_only(before: str, after: str) -> bool:
    """True when the two lines differ only inside string literals (an error or reason message)."""
    import io
    import tokenize

    def tokens(line: str) -> list[tuple[int, str]] | None:
        try:
            return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(line).readline)
                    if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                                      tokenize.DEDENT)]
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return None

    a, b = tokens(before), tokens(after)
    if a is None or b is None or len(a) != len(b):
        return False
    differing = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    string_types = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)}
    # Prose only: a literal with a space in it is words for a person; a bare word ("router", "model") may be an
    # alias, a code or a parameter name that callers read, so changing it needs a test.
    return bool(differing) and all(x[0] in string_types and y[0] in string_types and " " in x[1].strip("'\"f")
                                   for x, y in differing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "mutation.md")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    args = parser.parse_args()
    equivalents = {(e["module"], e["function"], e["becomes"]): e["reason"]
                   for e in json.loads(EQUIVALENTS.read_text())} if EQUIVALENTS.is_file() else {}
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for meta in sorted(args.mutants.rglob("*.py.meta")):
        module_path = meta.with_suffix("")  # x.py.meta -> x.py
        module = ".".join(module_path.relative_to(args.mutants).with_suffix("").parts)
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        source = functions(module_path)
        for key, code in codes.items():
            outcome = status(code)
            counts[module][outcome] += 1
            if outcome not in ("survived", "no tests", "suspicious"):
                continue
            name = key.rsplit(".", 1)[1]
            original_name = name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
            mutated = source.get(name, "").replace(name, original_name, 1)  # the def lines differ only so
            before, after = changed_line(mutated, source.get(original_name, ""))
            function = name.split("__mutmut_")[0].split("ǁ")[-1]
            reason = equivalents.get((module, function, after))
            survivors[module].append((name, before, after, f"equivalent: {reason}" if reason else kind(before, after)))
    lines = ["# Mutation testing", "",
             "The modules where a silent bug costs money or safety, mutated by mutmut "
             "(`[tool.mutmut]` in pyproject.toml) and tested by the unit tests alone.",
             "", "    .venv/bin/mutmut run --max-children 2 && .venv/bin/python scripts/mutation_report.py", "",
             "Raw score = killed (timeouts included) / checked. A *message text* mutant changes only the words of",
             "an error or reason string (codes and statuses are asserted, the wording is not, word for word); a",
             "*logging only* mutant changes a log call. Those are accepted (not equivalent): the second score",
             "leaves them out. An *equivalent* mutant changes nothing any caller can observe; each is listed",
             "with its reason (docs/mutation_equivalents.json). Score = killed / (checked - equivalent).",
             "Every survivor is listed below with the line it changes.", "",
             "| module | mutants | not checked | killed | timeout | survived | equivalent | accepted | score "
             "| without accepted |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for module, c in sorted(counts.items()):
        survived = c["survived"] + c["no tests"] + c["suspicious"]
        equivalent = sum(1 for s in survivors[module] if s[3].startswith("equivalent"))
        accepted = sum(1 for s in survivors[module] if s[3] in ("message text", "logging only"))
        checked = sum(c.values()) - c["not checked"] - equivalent
        killed = c["killed"] + c["timeout"]
        lines.append(f"| `{module}` | {sum(c.values())} | {c['not checked']} | {c['killed']} | {c['timeout']} "
                     f"| {survived} | {equivalent} | {accepted} | {killed / max(1, checked):.0%} "
                     f"| {killed / max(1, checked - accepted):.0%} |")
    lines += ["", "## Surviving mutants", ""]
    for module, items in sorted(survivors.items()):
        lines += [f"### `{module}`", "", "| mutant | line | becomes | class |", "| --- | --- | --- | --- |"]
        for name, before, after, why in items:
            cell = lambda text: "`" + text.replace("|", "\\|")[:110] + "`"  # noqa: E731
            lines.append(f"| {name.split('__mutmut_')[-1]} ({name.split('__mutmut_')[0].split('ǁ')[-1]}) | "
                         f"{cell(before)} | {cell(after)} | {why} |")
        lines.append("")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: " + ", ".join(f"{m.split('.')[-1]} {c['killed']}/{sum(c.values())}"
                                               for m, c in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
