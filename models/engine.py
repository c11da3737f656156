"""The one interface every model backend implements.

An ``Engine`` talks to one model. It knows nothing of tiers or routing.

- ``generate(request, *, max_tokens, temperature)`` returns a ``Generation``: the answer text, the
  model's reasoning kept apart (never in ``text``), token usage, finish reason, model, provider
  and latency in seconds.
- ``stream(request, *, max_tokens, temperature)`` yields ``StreamDelta`` objects with answer text
  (and reasoning text apart); the last delta carries ``usage`` and ``finish_reason``.
- ``health()`` returns ``EngineHealth``; it never raises.
- ``close()`` releases connections and model memory.

``generate`` and ``stream`` raise only ``router.errors`` types, translated at one point per backend:
``RateLimited`` (with ``retry_after``), ``UpstreamTimeout``, ``AuthenticationFailed``,
``UpstreamRejected`` (the model refused our request), ``ContextTooLong``, ``TierUnavailable``
(cannot reach or load the model) and ``UpstreamError`` (anything else that went wrong upstream).
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from router.generation import Generation, GenerationRequest, StreamDelta


@dataclass(frozen=True)
class EngineHealth:
    available: bool
    reason: str = ""


class Engine(ABC):
    provider: str
    model: str

    @abstractmethod
    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation: ...

    @abstractmethod
    def stream(
        self, request: GenerationRequest, *, max_tokens: int, temperature: float
    ) -> AsyncIterator[StreamDelta]: ...

    @abstractmethod
    async def health(self) -> EngineHealth: ...

    async def close(self) -> None:
        return None
