"""The one interface every model backend implements.

An ``Engine`` talks to one model. It knows nothing of tiers or routing.

- ``start()`` loads what the engine needs before it can answer (model weights); engines that only
  talk to a server do nothing here. It raises ``TierUnavailable`` with the reason when the model
  cannot be loaded (wrong path, offline, not enough memory). It may take minutes; callers run it
  in the background and report the engine unavailable until it returns.
- ``generate(request, *, max_tokens, temperature)`` returns a ``Generation``: the answer text, the
  model's reasoning kept apart (never in ``text``), token usage (prompt tokens, completion tokens,
  and of the prompt tokens those read from and written to a prompt cache where the backend reports
  them), finish reason, model, provider and latency in seconds.
- ``stream(request, *, max_tokens, temperature)`` yields ``StreamDelta`` objects with answer text
  (and reasoning text apart); exactly the last delta carries ``usage`` and ``finish_reason``.
  Closing the iterator early (the caller went away) stops the generation in the backend.
- ``health()`` returns ``EngineHealth``; it never raises.
- ``close()`` releases connections and model memory.
- ``counters`` holds the running totals of calls and tokens since the engine was built.
- ``from_config(config, build)`` builds one from its tier or provider config; ``models.factory`` calls
  it after the checks every kind shares (packages present, endpoint set, API key found).

``start``, ``generate`` and ``stream`` raise only ``router.core.errors`` types, translated at one point per
backend: ``RateLimited`` (with ``retry_after``), ``UpstreamTimeout``, ``AuthenticationFailed``,
``UpstreamRejected`` (the model refused our request), ``ContextTooLong``, ``TierUnavailable``
(cannot reach or load the model) and ``UpstreamError`` (anything else that went wrong upstream).
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any, Self

from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage


@dataclass(frozen=True)
class EngineHealth:
    available: bool
    reason: str = ""


@dataclass(frozen=True)
class EngineBuild:
    """What the factory settled for an engine it builds, beside the config itself."""

    provider: str
    timeout_s: float
    context_length: int
    api_key: str | None = None
    concurrency: int | None = None  # the tier's concurrency (providers have none of their own)

    def retry(self, config: Any) -> dict[str, Any]:
        """The retry settings of the HTTP and SDK engines."""
        return {"timeout_s": self.timeout_s, "max_retries": config.max_retries, "min_interval_s": config.min_interval_s}


@dataclass
class TokenCounters:
    """Running totals for one engine: what it has cost so far, and how often it failed or retried."""

    calls: int = 0
    failures: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0

    def record(self, usage: Usage) -> None:
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cached_prompt_tokens += usage.cached_prompt_tokens
        self.cache_write_tokens += usage.cache_write_tokens

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Engine(ABC):
    provider: str
    model: str
    counters: TokenCounters

    @classmethod
    def from_config(cls, config: Any, build: EngineBuild) -> Self:
        """Build from a ``ModelTierConfig`` or ``ProviderConfig``; every kind in ``models.kinds`` overrides it
        (an engine built otherwise, such as a deployment handle's, need not)."""
        raise TypeError(f"{cls.__name__} is not built from a config")

    async def start(self) -> None:
        return None

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
