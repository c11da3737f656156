"""Input screening before any model call: length and prompt-injection patterns.

Refusals are ``PromptRejected`` (400, code ``prompt_rejected``) with the reason; the patterns are
deliberately narrow (phrases that try to replace the system's instructions), so ordinary text that
mentions "system" or "instructions" passes.
"""

import re

from router.core.errors import PromptRejected

# (reason, cheap substrings one of which must be present, the pattern). The substring check on the
# lower-cased text lets ordinary prompts skip the regexes, which dominated the decision's latency.
_INJECTION_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("asks to ignore earlier instructions", ("ignore", "disregard", "forget", "override"), re.compile(
        r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|your|the system)\b"
        r"[^.\n]{0,20}\b(instructions?|prompts?|rules|directions|guidelines)\b", re.IGNORECASE)),
    ("tries to assign the model a new identity", ("you are now",), re.compile(r"\byou are now\b", re.IGNORECASE)),
    ("starts with a system: prefix", ("system",), re.compile(r"^\s*system\s*:", re.IGNORECASE | re.MULTILINE)),
    ("contains system-prompt tags", ("system", "im_start", "im_end", "[inst", "[/inst", "sys>>"), re.compile(
        r"<\|?\s*/?\s*(system|im_start|im_end)\s*\|?>|\[/?(system|INST)\]|<<\s*/?SYS\s*>>", re.IGNORECASE)),
)


def screen(user_texts: list[str], *, max_input_chars: int) -> None:
    """Raise ``PromptRejected`` when the caller's text is too long or looks like an injection."""
    total = sum(len(text) for text in user_texts)
    if total > max_input_chars:
        raise PromptRejected(
            f"the input is {total} characters; the limit is {max_input_chars} (limits.max_input_chars)",
            param="messages",
        )
    for text in user_texts:
        lowered = text.lower()
        for reason, needles, pattern in _INJECTION_PATTERNS:
            if any(needle in lowered for needle in needles) and pattern.search(text):
                raise PromptRejected(f"the input was refused: it {reason}", param="messages")
