"""The HTTP engine against a real loopback server speaking OpenAI's wire format."""

import httpx
import pytest

from models.openai_compatible import OpenAICompatibleEngine
from models.reasoning import ReasoningStreamSplitter, split_reasoning
from router.core.errors import (
    AuthenticationFailed,
    ContextTooLong,
    RateLimited,
    TierUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from router.core.generation import GenerationRequest, Message
from tests.configs import DEAD_URL

REQUEST = GenerationRequest(request_id="r1", messages=[Message(role="user", content="two plus two")])


def engine_for(url: str, timeout_s: float = 5.0) -> OpenAICompatibleEngine:
    return OpenAICompatibleEngine(base_url=url, model="deepseek-r1:1.5b", provider="local", timeout_s=timeout_s,
                                  max_retries=0)


async def test_generate_returns_the_answer_usage_and_sends_the_tier_limits(upstream):
    engine = engine_for(upstream.base_url)
    answer = await engine.generate(REQUEST, max_tokens=128, temperature=0.0)
    await engine.close()
    assert answer.text == "[upstream] echo: two plus two"
    assert answer.usage.prompt_tokens == 3 and answer.usage.completion_tokens == 5
    assert answer.provider == "local" and answer.latency_s > 0
    sent = upstream.requests[-1]
    assert (sent["max_tokens"], sent["temperature"], sent["model"]) == (128, 0.0, "deepseek-r1:1.5b")


async def test_reasoning_is_split_from_the_answer(upstream):
    upstream.mode = "think"
    engine = engine_for(upstream.base_url)
    answer = await engine.generate(REQUEST, max_tokens=64, temperature=0.0)
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=64, temperature=0.0)]
    await engine.close()
    assert answer.text == "[upstream] echo: two plus two"
    assert answer.reasoning.startswith("pondering")
    streamed = "".join(d.text for d in deltas)
    assert streamed == "[upstream] echo: two plus two"
    assert "<think>" not in streamed and "pondering" in "".join(d.reasoning for d in deltas)


async def test_stream_ends_with_usage_and_finish_reason(upstream):
    engine = engine_for(upstream.base_url)
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=64, temperature=0.0)]
    await engine.close()
    assert "".join(d.text for d in deltas) == "[upstream] echo: two plus two"
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage.completion_tokens == 5
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("mode", "error"),
    [("status:429", RateLimited), ("status:500", UpstreamError), ("status:401", AuthenticationFailed),
     ("status:400", UpstreamRejected), ("status:404", TierUnavailable), ("malformed", UpstreamError)],
)
async def test_upstream_failures_map_to_the_error_tree(upstream, mode, error):
    upstream.mode = mode
    engine = engine_for(upstream.base_url)
    with pytest.raises(error) as caught:
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    with pytest.raises(error):
        async for _ in engine.stream(REQUEST, max_tokens=8, temperature=0.0):
            pass
    await engine.close()
    if mode == "status:429":
        assert caught.value.retry_after == 2.0


async def test_a_slow_upstream_is_a_timeout(upstream):
    upstream.mode = "slow:2"
    engine = engine_for(upstream.base_url, timeout_s=0.2)
    with pytest.raises(UpstreamTimeout):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()


async def test_a_refused_connection_makes_the_model_unavailable_and_health_says_why():
    engine = engine_for(DEAD_URL)
    with pytest.raises(TierUnavailable, match="cannot reach"):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    health = await engine.health()
    await engine.close()
    assert not health.available and "cannot reach http://127.0.0.1:9/v1" in health.reason


async def test_health_is_good_when_the_server_lists_models(upstream):
    engine = engine_for(upstream.base_url)
    assert (await engine.health()).available
    await engine.close()


async def test_a_context_length_complaint_is_context_too_long():
    transport = httpx.MockTransport(lambda r: httpx.Response(
        400, json={"error": {"message": "This model's maximum context length is 2048 tokens"}}))
    engine = OpenAICompatibleEngine(base_url="http://x/v1", model="m", provider="p", transport=transport)
    with pytest.raises(ContextTooLong):
        await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
    await engine.close()


def test_split_reasoning_handles_a_missing_opening_tag():
    assert split_reasoning("thinking hard</think>The answer is 4") == ("The answer is 4", "thinking hard")
    assert split_reasoning("<think>a</think>b") == ("b", "a")
    assert split_reasoning("plain") == ("plain", None)


def test_stream_splitter_holds_back_tags_cut_across_pieces():
    splitter = ReasoningStreamSplitter()
    pieces = ["<thi", "nk>deep", " thought</th", "ink>Ans", "wer"]
    answer = reasoning = ""
    for piece in pieces:
        a, r = splitter.feed(piece)
        answer, reasoning = answer + a, reasoning + r
    a, r = splitter.flush()
    assert (answer + a, reasoning + r) == ("Answer", "deep thought")


async def test_a_server_that_ignores_n_gets_the_missing_samples_by_concurrent_calls(upstream):
    engine = engine_for(upstream.base_url)
    answer = await engine.generate(REQUEST.model_copy(update={"n": 3}), max_tokens=16, temperature=0.7)
    await engine.close()
    assert [s.text for s in answer.samples] == [answer.text] * 2
    assert upstream.requests[0]["n"] == 3 and all("n" not in r for r in upstream.requests[1:])
    assert len(upstream.requests) == 3 and answer.usage.completion_tokens == 3 * 5
