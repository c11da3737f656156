"""The Anthropic engine (official SDK) against a loopback server speaking the Messages API and its event stream."""

import pytest

from models.anthropic_engine import AnthropicEngine
from router.core.errors import (
    RateLimited,
    TierUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from router.core.generation import GenerationRequest, Message

SYSTEM = "You are a careful assistant who answers in one short sentence."
REQUEST = GenerationRequest(request_id="a1", messages=[
    Message(role="system", content=SYSTEM), Message(role="user", content="two plus two")])


class RecordedSleeps:
    """Stands in for asyncio.sleep: the retry delays are checked, not waited for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def engine_for(url: str, *, timeout_s: float = 5.0, max_retries: int = 0, sleep=None) -> AnthropicEngine:
    return AnthropicEngine(model="claude-fake", provider="anthropic", api_key="test-key", base_url=url,
                           timeout_s=timeout_s, max_retries=max_retries, sleep=sleep or RecordedSleeps())


async def test_generate_separates_the_system_prompt_and_marks_it_for_caching(anthropic_upstream):
    engine = engine_for(anthropic_upstream.base_url)
    answer = await engine.generate(REQUEST.model_copy(update={"stop": ["END"]}), max_tokens=256, temperature=1.5)
    await engine.close()
    assert answer.text == "[anthropic] echo: two plus two" and answer.reasoning is None
    assert answer.finish_reason == "stop" and answer.provider == "anthropic"
    sent = anthropic_upstream.requests[-1]
    assert sent["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "two plus two"}]}]
    assert (sent["max_tokens"], sent["stop_sequences"]) == (256, ["END"]) and "temperature" not in sent


async def test_usage_counts_cache_writes_then_cache_reads(anthropic_upstream):
    engine = engine_for(anthropic_upstream.base_url)
    first = await engine.generate(REQUEST, max_tokens=64, temperature=0.0)
    second = await engine.generate(REQUEST, max_tokens=64, temperature=0.0)
    await engine.close()
    system_tokens = len(SYSTEM.split())
    assert (first.usage.cache_write_tokens, first.usage.cached_prompt_tokens) == (system_tokens, 0)
    assert (second.usage.cache_write_tokens, second.usage.cached_prompt_tokens) == (0, system_tokens)
    # prompt_tokens is every prompt token, cached or not: Anthropic's input_tokens + both cache counts.
    assert first.usage.prompt_tokens == second.usage.prompt_tokens == system_tokens + 3
    assert first.usage.completion_tokens == 5
    assert engine.counters.calls == 2 and engine.counters.cached_prompt_tokens == system_tokens


async def test_a_conversation_merges_turns_and_caches_the_prefix(anthropic_upstream):
    engine = engine_for(anthropic_upstream.base_url)
    request = GenerationRequest(request_id="a2", messages=[
        Message(role="user", content="first"), Message(role="tool", content="tool output"),
        Message(role="assistant", content="noted"), Message(role="user", content="and now?")])
    await engine.generate(request, max_tokens=64, temperature=0.0)
    await engine.close()
    sent = anthropic_upstream.requests[-1]
    assert "system" not in sent
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert [b["text"] for b in sent["messages"][0]["content"]] == ["first", "tool output"]
    assert sent["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}


async def test_a_json_schema_becomes_the_output_format(anthropic_upstream):
    engine = engine_for(anthropic_upstream.base_url)
    schema = {"type": "object", "properties": {"intent": {"type": "string"}}}
    await engine.generate(REQUEST.model_copy(update={"json_schema": schema}), max_tokens=64, temperature=0.0)
    await engine.close()
    assert anthropic_upstream.requests[-1]["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


async def test_streaming_yields_text_and_thinking_apart_and_ends_with_usage(anthropic_upstream):
    anthropic_upstream.mode = "think"
    engine = engine_for(anthropic_upstream.base_url)
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=64, temperature=0.0)]
    await engine.close()
    assert "".join(d.text for d in deltas) == "[anthropic] echo: two plus two"
    assert "".join(d.reasoning for d in deltas).startswith("pondering")
    assert all(d.usage is None for d in deltas[:-1])
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage.completion_tokens == 5
    assert deltas[-1].usage.cache_write_tokens == len(SYSTEM.split())


async def test_a_429_is_rate_limited_with_retry_after(anthropic_upstream):
    anthropic_upstream.mode = "status:429"
    engine = engine_for(anthropic_upstream.base_url)
    with pytest.raises(RateLimited) as caught:
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()
    assert caught.value.retry_after == 2.0


async def test_a_429_is_retried_after_the_retry_after_it_names(anthropic_upstream):
    anthropic_upstream.mode = "fail_then_ok:429"
    sleeps = RecordedSleeps()
    engine = engine_for(anthropic_upstream.base_url, max_retries=2, sleep=sleeps)
    answer = await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()
    assert answer.text == "[anthropic] echo: two plus two"
    assert sleeps.delays == [2.0] and engine.counters.retries == 1
    assert len(anthropic_upstream.requests) == 2


async def test_a_500_is_retried_with_backoff_then_reported(anthropic_upstream):
    anthropic_upstream.mode = "status:500"
    sleeps = RecordedSleeps()
    engine = engine_for(anthropic_upstream.base_url, max_retries=2, sleep=sleeps)
    with pytest.raises(UpstreamError, match="500"):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    with pytest.raises(UpstreamError, match="500"):
        async for _ in engine.stream(REQUEST, max_tokens=8, temperature=0.0):
            pass
    await engine.close()
    assert len(anthropic_upstream.requests) == 6 and len(sleeps.delays) == 4
    assert 0.25 <= sleeps.delays[0] <= 0.5 and 0.5 <= sleeps.delays[1] <= 1.0  # jittered, doubling
    assert engine.counters.failures == 2


async def test_an_error_event_mid_stream_is_an_upstream_error_and_not_retried(anthropic_upstream):
    anthropic_upstream.mode = "stream_error"
    engine = engine_for(anthropic_upstream.base_url, max_retries=2)
    received = []
    with pytest.raises(UpstreamError, match="Overloaded"):
        async for delta in engine.stream(REQUEST, max_tokens=8, temperature=0.0):
            received.append(delta)
    await engine.close()
    assert received and len(anthropic_upstream.requests) == 1  # part of the answer went out: no retry


async def test_a_slow_upstream_is_a_timeout(anthropic_upstream):
    anthropic_upstream.mode = "slow:2"
    engine = engine_for(anthropic_upstream.base_url, timeout_s=0.2)
    with pytest.raises(UpstreamTimeout):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()


async def test_a_refused_connection_is_unavailable_and_health_says_why():
    engine = engine_for("http://127.0.0.1:9")
    with pytest.raises(TierUnavailable, match="cannot reach Anthropic"):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    health = await engine.health()
    await engine.close()
    assert not health.available and "cannot reach" in health.reason


async def test_a_malformed_body_is_an_upstream_error(anthropic_upstream):
    anthropic_upstream.mode = "malformed"
    engine = engine_for(anthropic_upstream.base_url)
    with pytest.raises(UpstreamError):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()


async def test_health_is_good_when_the_models_list_answers(anthropic_upstream):
    engine = engine_for(anthropic_upstream.base_url)
    assert (await engine.health()).available
    await engine.close()
