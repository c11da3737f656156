"""Tier 2 answers and grades itself; the grade is cut out of the answer before anyone sees it."""

import re

import json_repair
from pydantic import BaseModel, Field, ValidationError

from router.core.generation import Message

_INSTRUCTION = (
    "Answer the user's request concisely and correctly. After your answer, on its own line, write "
    '<assessment>{"quality": Q, "reasoning_depth": D, "escalate": E}</assessment> where Q (0.0-1.0) is how likely '
    "your answer is fully correct and complete, D is the number of non-trivial reasoning steps the request needs, "
    "and E is true if a stronger model should answer instead."
)
_ASSESSMENT = re.compile(r"<assessment>(.*?)(?:</assessment>|$)", re.DOTALL | re.IGNORECASE)


class Assessment(BaseModel):
    quality: float = Field(ge=0.0, le=1.0)
    reasoning_depth: int = Field(ge=0)
    escalate: bool = False


def with_assessment_instruction(messages: list[Message]) -> list[Message]:
    """Prepend the instruction, merged into the caller's own system message when there is one."""
    if messages and messages[0].role == "system":
        merged = Message(role="system", content=f"{messages[0].content}\n\n{_INSTRUCTION}")
        return [merged, *messages[1:]]
    return [Message(role="system", content=_INSTRUCTION), *messages]


def split_assessment(text: str) -> tuple[str, Assessment | None]:
    """Return the answer without the assessment block, and the assessment if it parses."""
    found = _ASSESSMENT.search(text)
    if found is None:
        return text.strip(), None
    answer = (text[: found.start()] + text[found.end():]).strip()
    try:
        data = json_repair.loads(found.group(1))
        return answer, Assessment.model_validate(data) if isinstance(data, dict) else None
    except (ValueError, ValidationError):
        return answer, None
