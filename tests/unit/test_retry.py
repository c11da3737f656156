"""The shared resilience layer on its own: which failures are retried, how long it waits, how calls are paced."""

import asyncio

import pytest

from models.engine import TokenCounters
from models.retry import SERVER_ERROR, Resilience, RetryPolicy
from router.core.errors import (
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def resilience(time: FakeTime, **policy) -> Resilience:
    return Resilience(RetryPolicy(**{"timeout_s": 5.0, **policy}), TokenCounters(), sleep=time.sleep,
                      clock=time.clock, jitter=lambda: 1.0)


def failing(*errors: Exception, result: str = "ok"):
    remaining = list(errors)

    async def attempt() -> str:
        if remaining:
            raise remaining.pop(0)
        return result

    return attempt


async def test_server_errors_back_off_exponentially_up_to_the_retry_limit():
    time = FakeTime()
    layer = resilience(time, max_retries=3, base_delay_s=0.5)
    boom = UpstreamError("500", code=SERVER_ERROR)
    assert await layer.call(failing(boom, boom, boom)) == "ok"
    assert time.sleeps == [0.5, 1.0, 2.0]
    with pytest.raises(UpstreamError):
        await layer.call(failing(boom, boom, boom, boom))
    assert layer.counters.retries == 6 and layer.counters.failures == 1


async def test_retry_after_is_honoured_but_a_long_one_fails_fast():
    time = FakeTime()
    layer = resilience(time, max_retries=2, max_retry_after_s=30.0)
    assert await layer.call(failing(RateLimited("slow down", retry_after=7.0))) == "ok"
    assert time.sleeps == [7.0]
    with pytest.raises(RateLimited):
        await layer.call(failing(RateLimited("come back tomorrow", retry_after=86400.0)))
    assert time.sleeps == [7.0]


async def test_requests_the_upstream_refused_are_not_retried():
    time = FakeTime()
    layer = resilience(time, max_retries=3)
    with pytest.raises(UpstreamRejected):
        await layer.call(failing(UpstreamRejected("bad request")))
    assert time.sleeps == []


async def test_a_call_over_its_timeout_is_an_upstream_timeout():
    layer = Resilience(RetryPolicy(timeout_s=0.01), TokenCounters())

    async def never() -> None:
        await asyncio.Event().wait()

    with pytest.raises(UpstreamTimeout, match="0.01s"):
        await layer.call(never)


async def test_a_stream_is_retried_before_its_first_item_but_not_after():
    time = FakeTime()
    layer = resilience(time, max_retries=2)
    attempts = []

    def opener(fail_after: int):
        async def items():
            attempts.append(fail_after)
            for n in range(3):
                if n == fail_after:
                    raise UpstreamError("dropped", code=SERVER_ERROR)
                yield n
        return items

    first_attempt_fails = iter([0, 5])
    assert [i async for i in layer.stream(lambda: opener(next(first_attempt_fails))())] == [0, 1, 2]
    assert attempts == [0, 5]
    received = []
    with pytest.raises(UpstreamError):
        async for item in layer.stream(opener(1)):
            received.append(item)
    assert received == [0] and attempts == [0, 5, 1]


async def test_calls_are_spaced_by_the_minimum_interval():
    time = FakeTime()
    layer = resilience(time, min_interval_s=2.0)
    for _ in range(3):
        await layer.call(failing())
    assert time.sleeps == [2.0, 2.0]
