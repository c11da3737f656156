"""Splitting a reasoning model's ``<think>...</think>`` block from its answer."""

import re

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Return (answer, reasoning). DeepSeek-R1 may omit the opening tag, so a lone
    ``</think>`` also ends the reasoning."""
    if "</think>" in text and "<think>" not in text:
        reasoning, _, answer = text.partition("</think>")
        return answer.strip(), reasoning.strip() or None
    found = _THINK.search(text)
    if found is None:
        return text, None
    answer = (text[: found.start()] + text[found.end():]).strip()
    return answer, found.group(1).strip() or None


class ReasoningStreamSplitter:
    """Routes streamed text to answer or reasoning as ``<think>`` tags open and close.

    Tags can be cut across deltas, so a possible tag prefix is held back until it resolves.
    """

    def __init__(self, starts_in_reasoning: bool = False) -> None:
        self._in_reasoning = starts_in_reasoning
        self._pending = ""

    def feed(self, piece: str) -> tuple[str, str]:
        text = self._pending + piece
        self._pending = ""
        answer, reasoning = [], []
        while text:
            tag = "</think>" if self._in_reasoning else "<think>"
            index = text.find(tag)
            if index >= 0:
                (reasoning if self._in_reasoning else answer).append(text[:index])
                text = text[index + len(tag):]
                self._in_reasoning = not self._in_reasoning
                continue
            keep = partial_suffix(text, tag)
            (reasoning if self._in_reasoning else answer).append(text[: len(text) - keep])
            self._pending = text[len(text) - keep:]
            break
        return "".join(answer), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        pending, self._pending = self._pending, ""
        return ("", pending) if self._in_reasoning else (pending, "")


def partial_suffix(text: str, tag: str) -> int:
    """Length of the longest tail of ``text`` that ``tag`` starts with (a tag that may still complete)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
