"""OpenAI stop-string semantics for engines that decode text themselves (the transformers engine).

A stop string ends the answer and is not part of it. In a stream it may arrive split across pieces, so
the trimmer holds back only the tail that could still become a stop string and releases it once it
cannot; nothing from the first stop string on is ever sent.
"""

from collections.abc import Sequence

from models.reasoning import partial_suffix


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest stop string it contains."""
    cuts = [text.find(s) for s in stops if s and s in text]
    return text[: min(cuts)] if cuts else text


class StopStringTrimmer:
    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The part of ``piece`` that may be sent now."""
        if self.stopped:
            return ""
        if not self._stops:
            return piece
        text = self._held + piece
        cut = cut_at_stop(text, self._stops)
        if len(cut) < len(text):
            self.stopped, self._held = True, ""
            return cut
        keep = max(partial_suffix(text, stop) for stop in self._stops)  # may still become a stop string
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """What was held back, once the stream has ended without completing a stop string."""
        held, self._held = self._held, ""
        return "" if self.stopped else held
