"""What every engine that calls a remote upstream shares: a per-call timeout, retries with jittered
exponential backoff that honour ``Retry-After``, a minimum interval between calls, and failure counts.

It works on ``router.core.errors`` only: each engine has already translated its library's errors, and
marks the transient ones by code (``RETRYABLE_CODES``) so this module needs no library knowledge.
Sleeping and the clock are injected, so tests check the delays without waiting for them.
"""

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from models.engine import TokenCounters
from router.core.errors import RateLimited, RouterError, UpstreamTimeout
from router.core.generation import Generation, StreamDelta

log = logging.getLogger(__name__)

T = TypeVar("T")

# Codes the engines give errors worth another try: a 5xx, an overloaded upstream, a refused or dropped
# connection. A 4xx other than 429 will fail the same way again, and a timeout has used up the budget.
SERVER_ERROR = "upstream_server_error"
OVERLOADED = "upstream_overloaded"
UNREACHABLE = "upstream_unreachable"
RETRYABLE_CODES = frozenset({SERVER_ERROR, OVERLOADED, UNREACHABLE})


def is_retryable(exc: RouterError) -> bool:
    return isinstance(exc, RateLimited) or exc.code in RETRYABLE_CODES


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float
    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    # A longer Retry-After is not waited for: the caller (the frontier pool) does better moving on.
    max_retry_after_s: float = 30.0
    min_interval_s: float = 0.0


class Resilience:
    def __init__(
        self,
        policy: RetryPolicy,
        counters: TokenCounters,
        *,
        name: str = "upstream",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.counters = counters
        self.name = name
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._pace_lock = asyncio.Lock()
        self._next_call_at = 0.0

    def delay_before_retry(self, exc: RouterError, retries_done: int) -> float | None:
        """Seconds to wait before the next attempt, or None when this error is not retried."""
        if retries_done >= self.policy.max_retries or not is_retryable(exc):
            return None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            if exc.retry_after > self.policy.max_retry_after_s:
                return None
            return exc.retry_after
        ceiling = min(self.policy.max_delay_s, self.policy.base_delay_s * 2**retries_done)
        # "Equal jitter": at least half the backoff, so retries never bunch up at zero.
        return ceiling / 2 + ceiling / 2 * self._jitter()

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` (a fresh call each time) under the timeout, retrying transient failures."""
        retries = 0
        while True:
            await self._pace()
            try:
                async with asyncio.timeout(self.policy.timeout_s):
                    return await attempt()
            except TimeoutError:
                self.counters.failures += 1
                raise self._timeout() from None
            except RouterError as exc:
                delay = self.delay_before_retry(exc, retries)
                if delay is None:
                    self.counters.failures += 1
                    raise
                await self._before_retry(exc, delay)
                retries += 1

    async def stream(self, open_stream: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """Iterate a fresh stream from ``open_stream``, retrying only until the first item has arrived:
        after that, part of an answer has gone out and another attempt cannot continue it.

        The timeout bounds the wait for each item (first included), not the whole stream."""
        retries = 0
        while True:
            await self._pace()
            items = open_stream()
            started = False
            try:
                while True:
                    try:
                        async with asyncio.timeout(self.policy.timeout_s):
                            item = await anext(items)
                    except StopAsyncIteration:
                        return
                    except TimeoutError:
                        self.counters.failures += 1
                        raise self._timeout() from None
                    started = True
                    yield item
            except RouterError as exc:
                delay = None if started else self.delay_before_retry(exc, retries)
                if delay is None:
                    self.counters.failures += 1
                    raise
                failure = exc
            finally:
                # Closing the inner stream tells the upstream the caller has gone (or this attempt failed).
                await items.aclose()  # type: ignore[attr-defined]
            await self._before_retry(failure, delay)
            retries += 1

    async def generate(self, attempt: Callable[[], Awaitable[Generation]]) -> Generation:
        """``call`` for an engine's answer: its usage counted, its latency measured over every attempt."""
        started = time.perf_counter()
        answer = await self.call(attempt)
        self.counters.record(answer.usage)
        return answer.model_copy(update={"latency_s": time.perf_counter() - started})

    async def stream_answer(self, open_stream: Callable[[], AsyncIterator[StreamDelta]]) -> AsyncIterator[StreamDelta]:
        """``stream`` for an engine's deltas: the usage of the final delta counted as it goes out."""
        async for delta in self.stream(open_stream):
            if delta.usage is not None:
                self.counters.record(delta.usage)
            yield delta

    async def _before_retry(self, exc: RouterError, delay: float) -> None:
        self.counters.retries += 1
        log.info("%s: %s; retrying in %.2fs", self.name, exc.message, delay)
        await self._sleep(delay)

    async def _pace(self) -> None:
        interval = self.policy.min_interval_s
        if interval <= 0:
            return
        async with self._pace_lock:
            wait = self._next_call_at - self._clock()
            if wait > 0:
                await self._sleep(wait)
            self._next_call_at = self._clock() + interval

    def _timeout(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"{self.name}: no answer within {self.policy.timeout_s:g}s")
