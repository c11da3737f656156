"""The OpenAI engine (official SDK) against a loopback server speaking chat completions and SSE."""

import pytest

from models.openai_engine import OpenAIEngine
from router.core.errors import (
    AuthenticationFailed,
    RateLimited,
    TierUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from router.core.generation import GenerationRequest, Message
from tests.configs import DEAD_URL
from tests.unit.test_anthropic_engine import RecordedSleeps

REQUEST = GenerationRequest(request_id="o1", messages=[Message(role="user", content="two plus two")])


def engine_for(url: str, *, timeout_s: float = 5.0, max_retries: int = 0, sleep=None,
               min_interval_s: float = 0.0) -> OpenAIEngine:
    return OpenAIEngine(model="gpt-fake", provider="openai", api_key="test-key", base_url=url, timeout_s=timeout_s,
                        max_retries=max_retries, min_interval_s=min_interval_s, sleep=sleep or RecordedSleeps())


async def test_generate_returns_the_answer_and_usage_and_sends_the_limits(upstream):
    engine = engine_for(upstream.base_url)
    schema = {"title": "verdict", "type": "object"}
    answer = await engine.generate(REQUEST.model_copy(update={"stop": ["END"], "json_schema": schema}),
                                   max_tokens=128, temperature=0.2)
    await engine.close()
    assert answer.text == "[upstream] echo: two plus two" and answer.finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 5)
    sent = upstream.requests[-1]
    assert (sent["model"], sent["max_completion_tokens"], sent["temperature"], sent["stop"]) == (
        "gpt-fake", 128, 0.2, ["END"])
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}}


async def test_streaming_splits_reasoning_and_ends_with_usage(upstream):
    upstream.mode = "think"
    engine = engine_for(upstream.base_url)
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=64, temperature=0.0)]
    await engine.close()
    assert "".join(d.text for d in deltas) == "[upstream] echo: two plus two"
    assert "pondering" in "".join(d.reasoning for d in deltas)
    assert deltas[-1].usage.completion_tokens == 7 and deltas[-1].finish_reason == "stop"
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}
    assert engine.counters.completion_tokens == 7


async def test_a_429_is_rate_limited_with_retry_after_and_retried_after_it(upstream):
    upstream.mode = "status:429"
    engine = engine_for(upstream.base_url)
    with pytest.raises(RateLimited) as caught:
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    assert caught.value.retry_after == 2.0
    upstream.mode = "fail_then_ok:429"
    sleeps = RecordedSleeps()
    retrying = engine_for(upstream.base_url, max_retries=1, sleep=sleeps)
    deltas = [d async for d in retrying.stream(REQUEST, max_tokens=8, temperature=0.0)]
    await engine.close()
    await retrying.close()
    assert "".join(d.text for d in deltas) == "[upstream] echo: two plus two" and sleeps.delays == [2.0]


@pytest.mark.parametrize(("mode", "error"), [("status:500", UpstreamError), ("status:401", AuthenticationFailed),
                                              ("malformed", UpstreamError), ("status:404", TierUnavailable)])
async def test_failures_map_to_our_errors(upstream, mode, error):
    upstream.mode = mode
    engine = engine_for(upstream.base_url)
    with pytest.raises(error):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    with pytest.raises(error):
        async for _ in engine.stream(REQUEST, max_tokens=8, temperature=0.0):
            pass
    await engine.close()


async def test_a_500_then_success_is_ridden_out_by_a_retry(upstream):
    upstream.mode = "fail_then_ok:500"
    sleeps = RecordedSleeps()
    engine = engine_for(upstream.base_url, max_retries=2, sleep=sleeps)
    answer = await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()
    assert answer.text == "[upstream] echo: two plus two" and len(sleeps.delays) == 1


async def test_a_slow_upstream_is_a_timeout(upstream):
    upstream.mode = "slow:2"
    engine = engine_for(upstream.base_url, timeout_s=0.2)
    with pytest.raises(UpstreamTimeout):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()


async def test_a_refused_connection_is_retried_then_unavailable():
    sleeps = RecordedSleeps()
    engine = engine_for(DEAD_URL, max_retries=2, sleep=sleeps)
    with pytest.raises(TierUnavailable, match="cannot reach OpenAI"):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    health = await engine.health()
    await engine.close()
    assert len(sleeps.delays) == 2 and engine.counters.retries == 2
    assert not health.available


async def test_calls_are_spaced_by_the_minimum_interval(upstream):
    sleeps = RecordedSleeps()
    engine = engine_for(upstream.base_url, sleep=sleeps, min_interval_s=30.0)
    await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()
    assert len(sleeps.delays) == 1 and 29.0 < sleeps.delays[0] <= 30.0
