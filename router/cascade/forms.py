"""What kind of answer a prompt asks for: a choice among options, a number, code, or free text."""

import re
from typing import Literal

AnswerForm = Literal["choice", "number", "code", "text"]
FORMS: tuple[AnswerForm, ...] = ("choice", "number", "code", "text")

# "A) text", "(b) text", "C. text", "D: text" at the start of a line
_OPTION = re.compile(r"^[ \t]*\(?([A-Ha-h])[\).:][ \t]+(\S[^\n]*)$", re.M)
_CODE_ASK = re.compile(
    r"\b(?:write|implement|create|complete|fix|define)\b[^.\n]{0,60}\b(?:function|method|class|program|script|code)\b"
    r"|\bpython\b|\bdef [a-z_]\w*\(|```", re.I)
_CODE_IN_ANSWER = re.compile(r"```|^\s*def [A-Za-z_]\w*\(", re.M)
_NUMBER_ASK = re.compile(
    r"\b(?:how (?:many|much|far|long|old)|what is the (?:value|sum|product|number|total|area|probability)|"
    r"compute|calculate|evaluate|solve|simplify|find the)\b|\\frac|\\boxed|\$[^$]*[=+\-*/^][^$]*\$", re.I)
_NUMBER_MARK = re.compile(r"####|\\boxed\{|\bthe (?:final )?answer is\b", re.I)


def options(prompt: str) -> dict[str, str]:
    """The options of the prompt's last multiple-choice question, letter -> text (few-shot examples before it,
    with options of their own, are passed over)."""
    runs: list[dict[str, str]] = []
    expected = "A"
    for match in _OPTION.finditer(prompt):
        letter, text = match.group(1).upper(), match.group(2).strip()
        if letter == "A":
            runs.append({})
            expected = "A"
        if runs and letter == expected:
            runs[-1][letter] = text
            expected = chr(ord(letter) + 1)
    for run in reversed(runs):
        if len(run) >= 2:
            return run
    return {}


def detect_form(prompt: str, answer: str = "") -> AnswerForm:
    if options(prompt):
        return "choice"
    if _CODE_ASK.search(prompt) or _CODE_IN_ANSWER.search(answer):
        return "code"
    if _NUMBER_ASK.search(prompt) or _NUMBER_MARK.search(answer):
        return "number"
    return "text"
