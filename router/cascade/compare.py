"""Do the local answers agree? Each candidate's final answer is extracted by the prompt's form and compared
with the first candidate's (the local tier's own answer). A refusal, an empty answer, one cut off by
``max_tokens`` or one with no extractable answer counts as disagreement."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from router.cascade import extract
from router.cascade.forms import AnswerForm, detect_form, options

_REFUSAL = re.compile(
    r"^\W*(?:i(?:'m| am) (?:sorry|unable|not able)|i (?:can(?:no|')t|won't|will not|do not|don't) (?:help|answer|"
    r"provide|assist|comply)|as an ai\b|sorry, (?:but )?i)", re.I)
_TOKENS = re.compile(r"\w+")


@dataclass(frozen=True)
class Candidate:
    source: str  # where it came from: "tier-2", "tier-2 sample 2", "tier-1", "provider:<name>"
    content: str
    finish_reason: str | None = None  # "length": cut off by max_tokens


@dataclass(frozen=True)
class Comparison:
    form: AnswerForm
    answers: tuple[str | None, ...]  # each candidate's extracted answer, in order
    problems: tuple[str | None, ...]  # why a candidate cannot count: refused, empty, truncated, no answer
    agreement: float  # 0-1: how far the others agree with the first, on average
    agreeing: int  # how many of the others give the first's answer
    sources: tuple[str, ...] = ()  # where each answer came from, in order

    @property
    def usable(self) -> bool:
        return self.problems[0] is None


def compare(prompt: str, candidates: Sequence[Candidate]) -> Comparison:
    if not candidates:
        raise ValueError("compare needs at least one candidate")
    form = detect_form(prompt, candidates[0].content)
    choices = options(prompt) if form == "choice" else {}
    answers = tuple(_extract(form, c.content, choices) for c in candidates)
    problems = tuple(_problem(c, a) for c, a in zip(candidates, answers, strict=True))
    similarities = [
        0.0 if problems[0] or problem else _similarity(form, answers[0], answer)
        for answer, problem in zip(answers[1:], problems[1:], strict=True)
    ]
    agreement = sum(similarities) / len(similarities) if similarities else 0.0
    return Comparison(form, answers, problems, round(agreement, 6), sum(1 for s in similarities if s >= 0.999),
                      tuple(c.source for c in candidates))


def _extract(form: AnswerForm, content: str, choices: dict[str, str]) -> str | None:
    if form == "choice":
        return extract.choice(content, choices)
    if form == "number":
        return extract.number(content)
    if form == "code":
        return extract.code(content)
    words = extract.words(content)
    return " ".join(sorted(words)) if words else None


def _problem(candidate: Candidate, answer: str | None) -> str | None:
    text = extract.strip_reasoning(candidate.content)
    if not text:
        return "empty"
    if candidate.finish_reason == "length":
        return "truncated"
    if _REFUSAL.search(text):
        return "refused"
    if answer is None:
        return "no answer"
    return None


def _similarity(form: AnswerForm, first: str | None, other: str | None) -> float:
    """Both answers exist here: a candidate without one has a problem ("no answer") and scores 0 before."""
    assert first is not None and other is not None
    if first == other:
        return 1.0
    if form in ("choice", "number"):
        return 0.0
    if form == "code":
        return SequenceMatcher(None, _TOKENS.findall(first), _TOKENS.findall(other), autojunk=False).ratio()
    a, b = set(first.split()), set(other.split())
    return 2 * len(a & b) / (len(a) + len(b))
