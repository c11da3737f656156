"""A working stand-in for the part of vLLM 0.33 that ``models/vllm_engine.py`` uses, for machines without CUDA.

The names, parameters, defaults and class trees mirror vLLM's own (``AsyncLLM.generate``/``abort``/
``from_engine_args``/``get_tokenizer``/``check_health``/``shutdown``, ``AsyncEngineArgs``, ``SamplingParams``,
``StructuredOutputsParams``, ``RequestOutputKind``, ``RequestOutput``, ``CompletionOutput`` and the
exceptions); ``tests/unit/test_fake_vllm.py`` checks them against vLLM's source. Only the fields this
project touches are kept.

Behaviour: the tokenizer is the checkpoint's real one (``AsyncEngineArgs.model`` names a local checkpoint,
e.g. the tiny one). The "model" answers ``FakeAsyncLLM.reply`` token by token, honouring ``max_tokens``,
``stop`` and the output kind (cumulative, delta, final only) as vLLM does, and counts prefix-cache hits
in 16-token blocks. ``hold_after`` pauses a request after that many tokens until it is aborted, so a
test can cancel it mid-generation without timing anything.
"""

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

BLOCK_SIZE = 16


class VLLMError(Exception):
    pass


class VLLMClientError(VLLMError):
    pass


class VLLMServerError(VLLMError):
    pass


class VLLMValidationError(VLLMClientError):
    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value


class GenerationError(VLLMServerError):
    pass


class EngineGenerateError(VLLMServerError):
    pass


class EngineDeadError(VLLMServerError):
    pass


class GracefulHTTPError(VLLMError):
    def __init__(self, message: str, http_status: Any) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class QueueOverflowError(GracefulHTTPError):
    def __init__(self) -> None:
        super().__init__("The engine is currently busy and cannot accept new requests.", 503)


class RequestOutputKind(Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


@dataclass
class StructuredOutputsParams:
    json: str | dict | None = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    disable_any_whitespace: bool = False
    disable_additional_properties: bool = False
    whitespace_pattern: str | None = None
    structural_tag: str | None = None


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = 16
    skip_special_tokens: bool = True
    output_kind: RequestOutputKind = RequestOutputKind.CUMULATIVE
    structured_outputs: StructuredOutputsParams | None = None


@dataclass
class AsyncEngineArgs:
    model: str = "Qwen/Qwen3-0.6B"
    max_model_len: int | None = None
    tensor_parallel_size: int = 1
    enable_prefix_caching: bool | None = None
    gpu_memory_utilization: float = 0.92
    max_num_seqs: int | None = None
    quantization: str | None = None
    enable_log_requests: bool = False


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: Any
    routed_experts: Any = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


class RequestOutput:
    def __init__(
        self,
        request_id: str,
        prompt: str | None,
        prompt_token_ids: list[int] | None,
        prompt_logprobs: Any,
        outputs: list[CompletionOutput],
        finished: bool,
        metrics: Any = None,
        lora_request: Any = None,
        encoder_prompt: str | None = None,
        encoder_prompt_token_ids: list[int] | None = None,
        num_cached_tokens: int | None = None,
        num_cache_creation_tokens: int | None = None,
    ) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.prompt_token_ids = prompt_token_ids
        self.prompt_logprobs = prompt_logprobs
        self.outputs = outputs
        self.finished = finished
        self.metrics = metrics
        self.num_cached_tokens = num_cached_tokens
        self.num_cache_creation_tokens = num_cache_creation_tokens


@dataclass
class _Seen:
    """What a test inspects afterwards: every call as the engine made it."""

    engine_args: list[AsyncEngineArgs] = field(default_factory=list)
    prompts: list[Any] = field(default_factory=list)
    sampling_params: list[SamplingParams] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)


class FakeAsyncLLM:
    reply: str = "Paris."
    hold_after: int | None = None
    seen: _Seen = _Seen()

    def __init__(self, engine_args: AsyncEngineArgs) -> None:
        from transformers import AutoTokenizer

        self.args = engine_args
        self._tokenizer = AutoTokenizer.from_pretrained(engine_args.model, local_files_only=True)
        self._cached_prompts: list[list[int]] = []
        self._aborted: set[str] = set()
        self.dead = False
        self.holding = asyncio.Event()

    @classmethod
    def from_engine_args(
        cls, engine_args: AsyncEngineArgs, start_engine_loop: bool = True, usage_context: Any = None,
        stat_loggers: list[Any] | None = None,
    ) -> "FakeAsyncLLM":
        cls.seen.engine_args.append(engine_args)
        return cls(engine_args)

    def get_tokenizer(self) -> Any:
        return self._tokenizer

    async def check_health(self) -> None:
        if self.dead:
            raise EngineDeadError("EngineCore encountered an issue.")

    def shutdown(self, timeout: float | None = None) -> None:
        self.dead = True

    async def abort(self, request_id: str | Iterable[str], internal: bool = False) -> None:
        ids = [request_id] if isinstance(request_id, str) else list(request_id)
        self.seen.aborted.extend(ids)
        self._aborted.update(ids)

    async def generate(
        self,
        prompt: Any,
        sampling_params: SamplingParams,
        request_id: str,
        *,
        prompt_text: str | None = None,
        lora_request: Any = None,
        tokenization_kwargs: dict[str, Any] | None = None,
        trace_headers: Mapping[str, str] | None = None,
        priority: int = 0,
        data_parallel_rank: int | None = None,
        session_id: str | None = None,
        kv_hints: Any = None,
        reasoning_ended: bool | None = None,
        reasoning_parser_kwargs: dict[str, Any] | None = None,
    ) -> AsyncGenerator[RequestOutput, None]:
        if self.dead:
            raise EngineDeadError("EngineCore encountered an issue.")
        self.seen.prompts.append(prompt)
        self.seen.sampling_params.append(sampling_params)
        self.seen.request_ids.append(request_id)
        prompt_ids = list(prompt["prompt_token_ids"])
        limit = self.args.max_model_len
        if limit is not None and len(prompt_ids) >= limit:
            raise VLLMValidationError(
                f"The decoder prompt (length {len(prompt_ids)}) is longer than the maximum model length of {limit}.")
        cached = self._prefix_hit(prompt_ids)
        reply_ids = self._tokenizer.encode(self.reply, add_special_tokens=False)
        max_tokens = sampling_params.max_tokens if sampling_params.max_tokens is not None else len(reply_ids)
        stops = [sampling_params.stop] if isinstance(sampling_params.stop, str) else (sampling_params.stop or [])
        kind = sampling_params.output_kind
        produced: list[int] = []
        sent_text = ""
        for position, token in enumerate(reply_ids):
            if self.hold_after is not None and position == self.hold_after:
                self.holding.set()
                await asyncio.Event().wait()  # stays here until the caller cancels or closes us
            if request_id in self._aborted:
                return
            await asyncio.sleep(0)  # a scheduling point per token, as a real engine step is
            produced.append(token)
            text = self._tokenizer.decode(produced, skip_special_tokens=sampling_params.skip_special_tokens)
            finish, stop_reason = None, None
            hit = next((s for s in stops if s in text), None)
            if hit is not None:
                text, finish, stop_reason = text[: text.index(hit)], "stop", hit
            elif len(produced) >= max_tokens:
                finish = "length"
            elif position == len(reply_ids) - 1:
                finish = "stop"
            finished = finish is not None
            if kind == RequestOutputKind.FINAL_ONLY and not finished:
                continue
            delta = kind == RequestOutputKind.DELTA
            out_text = text[len(sent_text):] if delta else text
            out_ids = [token] if delta else list(produced)
            sent_text = text
            yield RequestOutput(
                request_id=request_id, prompt=None, prompt_token_ids=prompt_ids, prompt_logprobs=None,
                # n sequences of one prompt: vLLM returns one CompletionOutput per index (here all alike)
                outputs=[CompletionOutput(index=i, text=out_text, token_ids=out_ids, cumulative_logprob=None,
                                          logprobs=None, finish_reason=finish, stop_reason=stop_reason)
                         for i in range(sampling_params.n)],
                finished=finished, num_cached_tokens=cached, num_cache_creation_tokens=len(prompt_ids) - cached,
            )
            if finished:
                return

    def _prefix_hit(self, prompt_ids: list[int]) -> int:
        """Tokens served from the prefix cache: whole 16-token blocks shared with an earlier prompt."""
        best = 0
        if self.args.enable_prefix_caching:
            for earlier in self._cached_prompts:
                shared = 0
                for a, b in zip(earlier, prompt_ids):
                    if a != b:
                        break
                    shared += 1
                best = max(best, shared)
            self._cached_prompts.append(prompt_ids)
        # vLLM always recomputes the last prompt token, so a full hit still leaves one token to compute.
        return min(best, len(prompt_ids) - 1) // BLOCK_SIZE * BLOCK_SIZE


def fake_vllm_api(*, reply: str = "Paris.", hold_after: int | None = None):
    """A fresh fake (its own class, so replies and records never leak between tests) as a ``VllmApi``."""
    from models.vllm_engine import VllmApi

    engine_class = type("FakeAsyncLLM", (FakeAsyncLLM,), {"reply": reply, "hold_after": hold_after, "seen": _Seen()})
    return VllmApi(engine_class, AsyncEngineArgs, SamplingParams, StructuredOutputsParams, RequestOutputKind)
