"""The transformers engine generating for real on the tiny random-weight Qwen2 checkpoint (CPU)."""

import pytest
from transformers import AutoTokenizer

from models.tiny import TINY_MODEL_NAME
from models.transformers_engine import TransformersEngine
from router.core.errors import ContextTooLong, TierUnavailable
from router.core.generation import GenerationRequest, Message

REQUEST = GenerationRequest(request_id="t1", messages=[
    Message(role="system", content="Answer briefly."), Message(role="user", content="What is the capital of France?")])


@pytest.fixture
async def engine(tiny_checkpoint):
    engine = TransformersEngine(model=TINY_MODEL_NAME, provider="micro", model_path=tiny_checkpoint, device="cpu",
                                context_length=2048)
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint):
    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def prompt_token_count(tokenizer, request: GenerationRequest) -> int:
    text = tokenizer.apply_chat_template([m.model_dump() for m in request.messages], tokenize=False,
                                         add_generation_prompt=True)
    return len(tokenizer.encode(text, add_special_tokens=False))


async def test_generate_answers_with_usage_equal_to_the_tokenizers_counts(engine, tokenizer):
    answer = await engine.generate(REQUEST, max_tokens=12, temperature=0.0)
    assert answer.text.strip()
    assert answer.model == TINY_MODEL_NAME and answer.provider == "micro" and answer.latency_s > 0
    assert answer.usage.prompt_tokens == prompt_token_count(tokenizer, REQUEST)
    # The tiny model never emits EOS, so it runs to the limit: the completion is exactly max_tokens tokens.
    assert answer.usage.completion_tokens == 12 and answer.finish_reason == "length"
    assert engine.counters.completion_tokens >= 12


async def test_streaming_yields_the_same_text_as_generate_and_ends_with_usage(engine, tokenizer):
    whole = await engine.generate(REQUEST, max_tokens=16, temperature=0.0)
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=16, temperature=0.0)]
    assert len(deltas) > 2
    assert all(d.usage is None for d in deltas[:-1])
    assert "".join(d.text for d in deltas).strip() == whole.text
    last = deltas[-1]
    assert last.finish_reason == "length"
    assert last.usage.prompt_tokens == prompt_token_count(tokenizer, REQUEST)
    assert last.usage.completion_tokens == 16


async def test_a_stop_string_ends_the_answer_in_both_generate_and_stream(engine):
    free = (await engine.generate(REQUEST, max_tokens=24, temperature=0.0)).text
    middle = len(free) // 2
    stop = free[middle:middle + 3]  # three characters from the middle: likely to span a token boundary
    assert len(stop) == 3
    expected = free[: free.find(stop)]
    stopped = REQUEST.model_copy(update={"stop": [stop]})
    answer = await engine.generate(stopped, max_tokens=24, temperature=0.0)
    deltas = [d async for d in engine.stream(stopped, max_tokens=24, temperature=0.0)]
    streamed = "".join(d.text for d in deltas)
    assert answer.text.strip() == expected.strip()
    assert streamed.strip() == expected.strip() and stop not in streamed
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage.completion_tokens < 24  # generation itself stopped, not only the text


async def test_leaving_a_stream_early_frees_the_engine_for_the_next_call(engine):
    stream = engine.stream(REQUEST, max_tokens=1000, temperature=0.0)
    first = await anext(stream)
    await stream.aclose()
    assert first.text or first.reasoning
    # The abandoned generation stopped: the next call gets the engine and finishes normally.
    answer = await engine.generate(REQUEST, max_tokens=4, temperature=0.0)
    assert answer.usage.completion_tokens == 4


async def test_a_prompt_longer_than_the_context_is_context_too_long(tiny_checkpoint):
    engine = TransformersEngine(model=TINY_MODEL_NAME, provider="micro", model_path=tiny_checkpoint, device="cpu",
                                context_length=16)
    await engine.start()
    with pytest.raises(ContextTooLong, match="holds 16"):
        await engine.generate(REQUEST, max_tokens=4, temperature=0.0)


async def test_a_missing_checkpoint_is_unavailable_with_the_reason(tmp_path):
    engine = TransformersEngine(model="nothing", provider="micro", model_path=str(tmp_path / "absent"), device="cpu")
    with pytest.raises(TierUnavailable) as caught:
        await engine.start()
    assert "cannot load" in caught.value.message and str(tmp_path / "absent") in caught.value.message
    health = await engine.health()
    assert not health.available and "cannot load" in health.reason
    with pytest.raises(TierUnavailable):
        await engine.generate(REQUEST, max_tokens=4, temperature=0.0)


async def test_n_samples_come_from_one_generate_call_and_all_count(engine):
    answer = await engine.generate(REQUEST.model_copy(update={"n": 3}), max_tokens=6, temperature=0.8)
    assert len(answer.samples) == 2 and all(s.finish_reason == "length" for s in answer.samples)
    assert answer.usage.completion_tokens == 3 * 6  # the tiny model runs every sequence to the limit
    greedy = await engine.generate(REQUEST.model_copy(update={"n": 2}), max_tokens=6, temperature=0.0)
    assert [s.text for s in greedy.samples] == [greedy.text]  # greedy decoding: the same answer, decoded once
