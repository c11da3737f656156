"""The tier contract: what the dispatcher is handed for each tier, and what a tier reports of itself.

The ingress builds ``TierEndpoint`` objects over deployment handles, tests over plain functions, and the
frontier pool reports its providers through the same ``TierStatus``.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from router.core.config import TierSettings
from router.core.generation import Generation, GenerationRequest, StreamDelta

TIER_NAMES = {0: "command", 1: "micro", 2: "light", 3: "frontier"}


@dataclass(frozen=True)
class TierStatus:
    available: bool
    reason: str = ""
    provider: str | None = None
    model: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TierEndpoint:
    number: int
    generate: Callable[[GenerationRequest], Awaitable[Generation]]
    stream: Callable[[GenerationRequest], AsyncIterator[StreamDelta]]
    status: Callable[[], Awaitable[TierStatus]]
    timeout_s: float

    @property
    def name(self) -> str:
        return TIER_NAMES[self.number]


def tier_limits(settings: TierSettings, request: GenerationRequest) -> dict[str, Any]:
    """The ``max_tokens`` and ``temperature`` a tier calls its engine with: the request's, within the tier's."""
    max_tokens = min(request.max_tokens or settings.max_tokens, settings.max_tokens)
    temperature = settings.temperature if request.temperature is None else request.temperature
    return {"max_tokens": max_tokens, "temperature": temperature}
