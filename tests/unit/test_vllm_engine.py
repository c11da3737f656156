"""The vLLM engine against ``tests/fakes/fake_vllm.py`` (checked against vLLM's source), plus the real
engine on a GPU (marked ``gpu``, skipped without CUDA and vLLM)."""

import asyncio
import importlib.util

import pytest
from transformers import AutoTokenizer

from models.tiny import TINY_MODEL_NAME
from models.vllm_engine import VllmEngine
from router.core.errors import ContextTooLong, TierUnavailable
from router.core.generation import GenerationRequest, Message
from tests.fakes.fake_vllm import (
    RequestOutputKind,
    StructuredOutputsParams,
    fake_vllm_api,
)

SCHEMA = {"title": "classification", "type": "object", "properties": {"intent": {"type": "string"}},
          "required": ["intent"]}
REQUEST = GenerationRequest(request_id="req-1", messages=[
    Message(role="system", content="You classify requests."), Message(role="user", content="What is two plus two?")])


async def started(checkpoint: str, **options) -> VllmEngine:
    api = options.pop("api")
    engine = VllmEngine(model=TINY_MODEL_NAME, provider="micro", model_path=checkpoint, api=api, **options)
    await engine.start()
    return engine


def chat_prompt_ids(checkpoint: str, request: GenerationRequest) -> list[int]:
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    text = tokenizer.apply_chat_template([m.model_dump() for m in request.messages], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer.encode(text, add_special_tokens=False)


async def test_the_engine_is_built_from_the_tier_settings(tiny_checkpoint):
    api = fake_vllm_api()
    await started(tiny_checkpoint, api=api, context_length=2048, gpu_memory_utilization=0.35, max_num_seqs=8,
                  enable_prefix_caching=True, tensor_parallel_size=1, quantization=None)
    (args,) = api.AsyncLLM.seen.engine_args
    assert (args.model, args.max_model_len, args.gpu_memory_utilization, args.max_num_seqs) == (
        tiny_checkpoint, 2048, 0.35, 8)
    assert args.enable_prefix_caching is True and args.tensor_parallel_size == 1 and args.quantization is None


async def test_generate_sends_the_chat_template_and_tier_sampling_params(tiny_checkpoint):
    api = fake_vllm_api(reply="Four.")
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    answer = await engine.generate(REQUEST.model_copy(update={"stop": ["\n\n"]}), max_tokens=128, temperature=0.0)
    assert answer.text == "Four." and answer.finish_reason == "stop"
    (prompt,) = api.AsyncLLM.seen.prompts
    assert prompt == {"prompt_token_ids": chat_prompt_ids(tiny_checkpoint, REQUEST)}
    (params,) = api.AsyncLLM.seen.sampling_params
    assert (params.max_tokens, params.temperature, params.stop) == (128, 0.0, ["\n\n"])
    assert params.output_kind == RequestOutputKind.FINAL_ONLY and params.structured_outputs is None
    assert api.AsyncLLM.seen.request_ids[0].startswith("req-1-")


async def test_a_json_schema_constrains_decoding_with_structured_outputs(tiny_checkpoint):
    api = fake_vllm_api(reply='{"intent": "question"}')
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    answer = await engine.generate(REQUEST.model_copy(update={"json_schema": SCHEMA}), max_tokens=128,
                                   temperature=0.0)
    assert answer.text == '{"intent": "question"}'
    (params,) = api.AsyncLLM.seen.sampling_params
    assert params.structured_outputs == StructuredOutputsParams(json=SCHEMA)


async def test_usage_comes_from_the_request_output_including_prefix_cache_hits(tiny_checkpoint):
    api = fake_vllm_api(reply="Four, as two and two make four.")
    engine = await started(tiny_checkpoint, api=api, context_length=2048, enable_prefix_caching=True)
    long_system = Message(role="system", content="You answer arithmetic questions carefully. " * 8)
    request = REQUEST.model_copy(update={"messages": [long_system, REQUEST.messages[1]]})
    first = await engine.generate(request, max_tokens=128, temperature=0.0)
    second = await engine.generate(request, max_tokens=128, temperature=0.0)
    prompt_tokens = len(chat_prompt_ids(tiny_checkpoint, request))
    reply_tokens = len(AutoTokenizer.from_pretrained(tiny_checkpoint).encode(api.AsyncLLM.reply,
                                                                               add_special_tokens=False))
    assert first.usage.prompt_tokens == prompt_tokens and first.usage.completion_tokens == reply_tokens
    assert first.usage.cached_prompt_tokens == 0 and first.usage.cache_write_tokens == prompt_tokens
    # The same prompt again: every whole 16-token block but the last token's is a prefix-cache hit.
    assert second.usage.cached_prompt_tokens == (prompt_tokens - 1) // 16 * 16 > 0
    assert engine.counters.calls == 2 and engine.counters.cached_prompt_tokens == second.usage.cached_prompt_tokens


async def test_max_tokens_cuts_the_answer_and_says_length(tiny_checkpoint):
    api = fake_vllm_api(reply="one two three four five six seven eight nine ten")
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    answer = await engine.generate(REQUEST, max_tokens=3, temperature=0.2)
    assert answer.finish_reason == "length" and answer.usage.completion_tokens == 3


async def test_reasoning_is_split_from_the_answer_in_generate_and_stream(tiny_checkpoint):
    api = fake_vllm_api(reply="<think>two and two is four</think>The answer is 4.")
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    answer = await engine.generate(REQUEST, max_tokens=128, temperature=0.0)
    assert (answer.text, answer.reasoning) == ("The answer is 4.", "two and two is four")
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=128, temperature=0.0)]
    assert "".join(d.text for d in deltas) == "The answer is 4."
    assert "".join(d.reasoning for d in deltas) == "two and two is four"
    assert api.AsyncLLM.seen.sampling_params[-1].output_kind == RequestOutputKind.DELTA


async def test_a_stream_ends_with_usage_counted_over_its_deltas(tiny_checkpoint):
    api = fake_vllm_api(reply="Paris is the capital of France.")
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    deltas = [d async for d in engine.stream(REQUEST, max_tokens=128, temperature=0.0)]
    assert len(deltas) > 3 and all(d.usage is None for d in deltas[:-1])
    reply_tokens = len(AutoTokenizer.from_pretrained(tiny_checkpoint).encode(api.AsyncLLM.reply,
                                                                               add_special_tokens=False))
    assert deltas[-1].usage.completion_tokens == reply_tokens and deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage.prompt_tokens == len(chat_prompt_ids(tiny_checkpoint, REQUEST))


async def test_a_cancelled_call_is_aborted_in_the_engine(tiny_checkpoint):
    api = fake_vllm_api(reply="a long answer that never finishes because the caller left", hold_after=2)
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    call = asyncio.create_task(engine.generate(REQUEST, max_tokens=128, temperature=0.0))
    await engine._engine.holding.wait()  # the request is mid-generation
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert api.AsyncLLM.seen.aborted == api.AsyncLLM.seen.request_ids


async def test_a_stream_closed_early_is_aborted_in_the_engine(tiny_checkpoint):
    api = fake_vllm_api(reply="a long answer that the caller stops reading", hold_after=3)
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    stream = engine.stream(REQUEST, max_tokens=128, temperature=0.0)
    first = await anext(stream)
    assert first.text
    await stream.aclose()
    assert api.AsyncLLM.seen.aborted == api.AsyncLLM.seen.request_ids


async def test_a_finished_request_is_not_aborted(tiny_checkpoint):
    api = fake_vllm_api()
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    await engine.generate(REQUEST, max_tokens=16, temperature=0.0)
    assert api.AsyncLLM.seen.aborted == []


async def test_a_prompt_over_the_context_is_context_too_long(tiny_checkpoint):
    engine = await started(tiny_checkpoint, api=fake_vllm_api(), context_length=8)
    with pytest.raises(ContextTooLong):
        await engine.generate(REQUEST, max_tokens=4, temperature=0.0)


async def test_vllms_own_errors_map_to_ours(tiny_checkpoint):
    api = fake_vllm_api()
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    engine.context_length = 10_000  # let the request through to the fake's own max_model_len check
    engine._engine.args.max_model_len = 8
    with pytest.raises(ContextTooLong, match="maximum model length"):
        await engine.generate(REQUEST, max_tokens=4, temperature=0.0)
    engine._engine.dead = True
    with pytest.raises(TierUnavailable, match="died"):
        await engine.generate(REQUEST, max_tokens=4, temperature=0.0)
    health = await engine.health()
    assert not health.available and "died" in health.reason


async def test_without_vllm_the_engine_is_unavailable_and_says_why():
    engine = VllmEngine(model="deepseek-r1:1.5b", provider="micro", context_length=2048)
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(TierUnavailable, match="gpu"):
        await engine.start()
    assert "gpu" in (await engine.health()).reason


def _cuda_and_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_and_vllm(), reason="needs CUDA and vLLM (the gpu extra)")
async def test_the_real_engine_generates_streams_and_constrains_json(tiny_checkpoint):
    engine = VllmEngine(model=TINY_MODEL_NAME, provider="micro", model_path=tiny_checkpoint, context_length=2048,
                        gpu_memory_utilization=0.2, max_num_seqs=4)
    await engine.start()
    try:
        answer = await engine.generate(REQUEST, max_tokens=8, temperature=0.0)
        assert answer.usage.prompt_tokens == len(chat_prompt_ids(tiny_checkpoint, REQUEST))
        assert answer.usage.completion_tokens == 8
        deltas = [d async for d in engine.stream(REQUEST, max_tokens=8, temperature=0.0)]
        assert deltas[-1].usage.completion_tokens == 8
        constrained = await engine.generate(REQUEST.model_copy(update={"json_schema": SCHEMA}), max_tokens=64,
                                            temperature=0.0)
        assert constrained.text.lstrip().startswith("{")
        assert (await engine.health()).available
    finally:
        await engine.close()


async def test_n_samples_are_one_request_so_the_prompt_is_prefilled_once(tiny_checkpoint):
    api = fake_vllm_api(reply="Four.")
    engine = await started(tiny_checkpoint, api=api, context_length=2048)
    answer = await engine.generate(REQUEST.model_copy(update={"n": 2}), max_tokens=16, temperature=0.7)
    (params,) = api.AsyncLLM.seen.sampling_params  # one engine request for both samples
    assert params.n == 2 and params.temperature == 0.7
    assert answer.text == "Four." and [s.text for s in answer.samples] == ["Four."]
    single = await engine.generate(REQUEST, max_tokens=16, temperature=0.7)
    assert answer.usage.completion_tokens == 2 * single.usage.completion_tokens  # every sample's tokens counted
