"""What the OpenAI and Anthropic SDK engines share: retries and token counters around the client,
usage recorded as streams end, one point of error translation, a health probe, closing the client.

A subclass builds its client in ``_make_client`` and supplies the request parameters, one call and how
to read its answer, one streaming attempt, the health probe and the table that turns its SDK's
exceptions into router errors.
"""

import asyncio
import contextlib
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self

from models.engine import Engine, EngineBuild, EngineHealth, TokenCounters
from models.retry import Resilience, RetryPolicy
from models.samples import concurrent_samples
from models.upstream_errors import probe_health, translated
from router.core.errors import RouterError
from router.core.generation import Generation, GenerationRequest, StreamDelta


class SdkEngine(Engine):
    def __init__(
        self, *, model: str, provider: str, api_key: str, base_url: str | None = None, timeout_s: float = 60.0,
        max_retries: int = 2, min_interval_s: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.model = model
        self.provider = provider
        self.counters = TokenCounters()
        # The SDK's own retries are off: Resilience retries (honouring Retry-After) and counts.
        self._client = self._make_client(api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        self._resilience = Resilience(
            RetryPolicy(timeout_s=timeout_s, max_retries=max_retries, min_interval_s=min_interval_s),
            self.counters, name=provider, sleep=sleep,
        )

    @classmethod
    def from_config(cls, config: Any, build: EngineBuild) -> Self:
        assert build.api_key is not None  # the factory requires one for SDK kinds
        return cls(model=config.model, provider=build.provider, api_key=build.api_key, base_url=config.base_url,
                   **build.retry(config))

    @abstractmethod
    def _make_client(self, *, api_key: str, base_url: str | None, timeout_s: float) -> Any: ...

    @abstractmethod
    def _params(self, request: GenerationRequest, max_tokens: int, temperature: float) -> dict[str, Any]: ...

    @abstractmethod
    async def _create(self, params: dict[str, Any]) -> Any:
        """One call of the SDK; its response, checked enough that ``_generation`` can read it."""

    @abstractmethod
    def _generation(self, response: Any) -> Generation:
        """The answer in a response of ``_create`` (latency is filled in by ``generate``)."""

    @abstractmethod
    def _stream_once(self, params: dict[str, Any]) -> AsyncIterator[StreamDelta]: ...

    @abstractmethod
    def _probe(self) -> Awaitable[object]:
        """A cheap authenticated call (listing models) that fails the way a real one would."""

    @abstractmethod
    def _error(self, exc: Exception) -> RouterError:
        """This SDK's exception as one of ours."""

    accepts_n = False  # whether the API returns n choices for one call

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation:
        if request.n > 1 and not self.accepts_n:
            return await concurrent_samples(
                lambda single: self.generate(single, max_tokens=max_tokens, temperature=temperature), request)
        params = self._params(request, max_tokens, temperature)

        async def once() -> Generation:
            with self._translate():
                response = await self._create(params)
            return self._generation(response)

        return await self._resilience.generate(once)

    async def stream(
        self, request: GenerationRequest, *, max_tokens: int, temperature: float
    ) -> AsyncIterator[StreamDelta]:
        params = self._params(request, max_tokens, temperature)
        async for delta in self._resilience.stream_answer(lambda: self._stream_once(params)):
            yield delta

    async def health(self) -> EngineHealth:
        return await probe_health(self._probe, self._error)

    async def close(self) -> None:
        await self._client.close()

    def _translate(self) -> "contextlib.AbstractContextManager[None]":
        """The single point where the SDK's exceptions become router errors."""
        return translated(self._error)
