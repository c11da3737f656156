"""The comparable final answer of each form, or None when the answer has none.

- choice: the option letter, found as a leading letter, "the answer is (B)", an option number, or the
  text of exactly one option;
- number: the value after ``####``, in ``\\boxed{}``, after "the answer is", else the last number; thousands
  separators, currency signs, units and trailing zeros do not matter;
- code: the defined functions' Python syntax trees with names, docstrings and formatting normalised away;
- text: the set of content words.
"""

import ast
import builtins
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_LEADING_LETTER = re.compile(r"^\W{0,3}([A-H])(?:\W|$)")
_SAID_LETTER = re.compile(
    r"\b(?:answer|option|choice)(?: is)?\s*[:\-]?\s*\(?([A-H])\b\)?|\(([A-H])\)|\b([A-H])\)", re.I)
_LONE_LETTER = re.compile(r"(?<![A-Za-z'])([A-H])(?![A-Za-z'])")
_NUMBER = r"-?\$?\s?(?:\d{1,3}(?:[,\u2009 ]\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?"
_MARKED_NUMBER = [
    re.compile(r"####\s*(" + _NUMBER + ")"),
    re.compile(r"\\boxed\{\s*([^{}]*)\}"),
    re.compile(r"\bthe (?:final )?answer is[:\s]*\$?\\?\(?\s*(" + _NUMBER + ")", re.I),
]
_ANY_NUMBER = re.compile(_NUMBER)
_FRAC = re.compile(r"\\[dt]?frac\{(-?\d+)\}\{(\d+)\}")
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|$)", re.S | re.I)
_WORDS = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the of to in on for and or is are was were be been it this that with as by at from which who what "
    "i you he she we they my your our their its not no yes so but if then than there here do does did".split())


def strip_reasoning(answer: str) -> str:
    text = _THINK.sub("", answer)
    if "</think>" in text:  # an opening tag cut off by the template: keep what follows the close
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


def choice(answer: str, options: dict[str, str]) -> str | None:
    text = strip_reasoning(answer)
    letters = set(options)
    lead = _LEADING_LETTER.match(text)
    if lead and lead.group(1) in letters:
        return lead.group(1)
    for match in _SAID_LETTER.finditer(text):
        letter = next(g for g in match.groups() if g).upper()
        if letter in letters:
            return letter
    stripped = text.strip().rstrip(".")
    if stripped.isdigit() and 1 <= int(stripped) <= len(options):
        return sorted(letters)[int(stripped) - 1]
    named = [letter for letter, option in options.items() if _norm(option) and _norm(option) in _norm(text)]
    if len(named) == 1:
        return named[0]
    lone = {m.group(1) for m in _LONE_LETTER.finditer(text)} & letters
    return lone.pop() if len(lone) == 1 else None


def _norm(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def number(answer: str) -> str | None:
    text = strip_reasoning(answer)
    for pattern in _MARKED_NUMBER:
        found = pattern.findall(text)
        if found:
            value = _number_value(found[-1])
            if value is not None:
                return value
    found = _ANY_NUMBER.findall(text)
    return _number_value(found[-1]) if found else None


def _number_value(raw: str) -> str | None:
    raw = _FRAC.sub(r"\1/\2", raw)
    cleaned = re.sub(r"(?<=\d)[,\u2009 ](?=\d{3}\b)", "", raw)
    cleaned = re.sub(r"[^\d.\-/]", "", cleaned)
    if not cleaned or cleaned in "-./":
        return None
    try:
        if "/" in cleaned:
            top, bottom = cleaned.split("/", 1)
            value = Fraction(Decimal(top)) / Fraction(Decimal(bottom))
            return str(value) if value.denominator != 1 else str(value.numerator)
        value = Decimal(cleaned).normalize()
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return format(value, "f")


def code(answer: str) -> str | None:
    """The normalised syntax of every function the answer defines, or None when none parses."""
    text = strip_reasoning(answer)
    sources = _FENCE.findall(text) or [_from_first_def(text)]
    functions: list[str] = []
    for source in sources:
        tree = _parse(source)
        if tree is None:
            continue
        functions += [_normalised(node) for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    return "\n".join(functions) if functions else None


def _from_first_def(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("def ")), None)
    if start is None:
        return ""
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = [lines[start][indent:]]
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent and not line.lstrip().startswith("def "):
            break
        body.append(line[indent:] if len(line) >= indent else line)
    return "\n".join(body)


def _parse(source: str) -> ast.Module | None:
    lines = source.splitlines()
    while lines:  # an answer cut off mid-function: drop trailing lines until what is left parses
        try:
            return ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError):
            lines = lines[:-1]
    return None


class _Renamer(ast.NodeTransformer):
    """Names become their order of first appearance, so two functions that differ only in naming match."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = "f"
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None),
                                                                          ast.Constant):
            node.body = node.body[1:] or [ast.Pass()]  # the docstring
        node.returns = None
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg, node.annotation = self._name(node.arg), None
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in _BUILTINS:
            node.id = self._name(node.id)
        return node


_BUILTINS = frozenset(dir(builtins))


def _normalised(node: ast.AST) -> str:
    return ast.dump(_Renamer().visit(node), annotate_fields=False, include_attributes=False)


def words(answer: str) -> frozenset[str]:
    return frozenset(w for w in _WORDS.findall(strip_reasoning(answer).lower()) if w not in _STOP)
