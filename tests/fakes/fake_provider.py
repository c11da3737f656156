"""A frontier provider for ``router.frontier.pool.FrontierPool`` without Ray or a network: a scripted engine
behind an endpoint. ``tests/unit/test_frontier_pool.py`` checks both against the real interfaces (the
``models.engine.Engine`` methods the pool calls, and ``deployments.frontier.SlotProvider``)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from router.core.config import ProviderConfig
from router.core.errors import TierUnavailable
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage


@dataclass(frozen=True)
class Health:
    available: bool
    reason: str = ""


class ScriptedEngine:
    """Answers ``words``, or raises ``error`` after ``fail_after`` deltas (0: before any output)."""

    def __init__(self, provider: str, words: list[str], *, error: BaseException | None = None,
                 fail_after: int = 0) -> None:
        self.provider, self.words, self.error, self.fail_after = provider, words, error, fail_after
        self.calls: list[dict] = []
        self.requests: list[GenerationRequest] = []
        self.closed = False
        self.sends_usage = True  # False: the stream ends without the final usage delta (some servers do)

    def _usage(self, request: GenerationRequest) -> Usage:
        return Usage(prompt_tokens=1_000, completion_tokens=len(self.words))

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation:
        self.calls.append({"max_tokens": max_tokens, "temperature": temperature})
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return Generation(text=" ".join(self.words), usage=self._usage(request), finish_reason="stop",
                          model=f"{self.provider}-model", provider=self.provider, latency_s=0.0)

    async def stream(self, request: GenerationRequest, *, max_tokens: int,
                     temperature: float) -> AsyncIterator[StreamDelta]:
        self.calls.append({"max_tokens": max_tokens, "temperature": temperature})
        self.requests.append(request)
        for index, word in enumerate(self.words):
            if self.error is not None and index == self.fail_after:
                raise self.error
            yield StreamDelta(text=word, model=f"{self.provider}-model", provider=self.provider)
        if self.error is not None:
            raise self.error
        if self.sends_usage:
            yield StreamDelta(usage=self._usage(request), finish_reason="stop", model=f"{self.provider}-model",
                              provider=self.provider)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeProvider:
    config: ProviderConfig
    engine: ScriptedEngine
    state: str = "ready"
    problem: str = ""
    marked_down: list[str] = field(default_factory=list)
    keyed: list[str] = field(default_factory=list)
    closed: bool = False

    def ready(self) -> ScriptedEngine:
        if self.state != "ready":
            raise TierUnavailable(f"{self.config.name} is unavailable: {self.reason()}", code=f"engine_{self.state}")
        return self.engine

    def reason(self) -> str:
        return "still loading the model (0s so far)" if self.state == "loading" else self.problem

    def mark_down(self, reason: str) -> None:
        self.marked_down.append(reason)

    async def check(self) -> Health:
        if self.state != "ready":
            return Health(False, self.reason())
        return Health(not self.marked_down, self.marked_down[-1] if self.marked_down else "")

    def with_key(self, api_key: str) -> ScriptedEngine:
        self.keyed.append(api_key)
        return ScriptedEngine(self.config.name, [f"keyed-{len(self.keyed)}"])

    async def close(self) -> None:
        self.closed = True
