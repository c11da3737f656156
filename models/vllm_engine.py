"""vLLM's ``AsyncLLM`` in-process (written against vLLM 0.33: ``vllm/v1/engine/async_llm.py``).

- Built with ``AsyncLLM.from_engine_args(AsyncEngineArgs(...))`` in ``start()``, in a worker thread:
  it loads weights and starts the engine-core process, which takes minutes and must not block the loop.
- The prompt is the model's chat template applied by its own tokenizer, handed over as token ids (a
  ``TokensPrompt``), so what we count as prompt tokens is exactly what the model sees.
- A JSON schema on the request constrains decoding: ``SamplingParams(structured_outputs=
  StructuredOutputsParams(json=schema))``.
- Usage comes from the ``RequestOutput``: ``prompt_token_ids``, ``outputs[0].token_ids``,
  ``num_cached_tokens`` (prefix-cache hits) and ``num_cache_creation_tokens`` (prefix-cache writes).
- When the caller goes away (the task is cancelled, or the stream is closed) the request is aborted in
  the engine, so its KV cache and batch slot are freed instead of decoding for nobody.

vLLM is imported lazily (``load_vllm_api``), so this module imports on machines without it (the extra
``gpu``). Its errors become ``router.core.errors`` at one point, ``_translate``, which matches them by class
name along the MRO: vLLM cannot be imported where the translation is tested.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any, Self

from models.engine import Engine, EngineBuild, EngineHealth, TokenCounters
from models.local_prompt import chat_prompt_ids, completion_room
from models.reasoning import ReasoningStreamSplitter, split_reasoning
from models.retry import OVERLOADED
from models.samples import sample
from router.core.errors import (
    ContextTooLong,
    RouterError,
    TierUnavailable,
    UpstreamError,
    UpstreamRejected,
)
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage

_CONTEXT_MARKERS = ("maximum model length", "max_model_len", "context length", "too long")


@dataclass(frozen=True)
class VllmApi:
    """The vLLM names this engine uses; tests hand in ``tests/fakes/fake_vllm.py`` instead."""

    AsyncLLM: Any
    AsyncEngineArgs: Any
    SamplingParams: Any
    StructuredOutputsParams: Any
    RequestOutputKind: Any


def load_vllm_api() -> VllmApi:
    from vllm import AsyncEngineArgs, SamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
    from vllm.v1.engine.async_llm import AsyncLLM

    return VllmApi(AsyncLLM, AsyncEngineArgs, SamplingParams, StructuredOutputsParams, RequestOutputKind)


class VllmEngine(Engine):
    @classmethod
    def from_config(cls, config: Any, build: EngineBuild) -> Self:
        return cls(
            model=config.model, provider=build.provider, model_path=config.model_path,
            context_length=build.context_length, gpu_memory_utilization=config.gpu_memory_utilization,
            max_num_seqs=config.max_num_seqs or build.concurrency, enable_prefix_caching=config.enable_prefix_caching,
            tensor_parallel_size=config.tensor_parallel_size, quantization=config.quantization,
        )

    def __init__(
        self, *, model: str, provider: str, model_path: str | None = None, context_length: int,
        gpu_memory_utilization: float = 0.9, max_num_seqs: int | None = None, enable_prefix_caching: bool = True,
        tensor_parallel_size: int = 1, quantization: str | None = None, api: VllmApi | None = None,
    ) -> None:
        self.model = model
        self.provider = provider
        self.source = model_path or model
        self.context_length = context_length
        self.engine_options = {
            "gpu_memory_utilization": gpu_memory_utilization, "max_num_seqs": max_num_seqs,
            "enable_prefix_caching": enable_prefix_caching, "tensor_parallel_size": tensor_parallel_size,
            "quantization": quantization,
        }
        self.counters = TokenCounters()
        self._api = api
        self._engine: Any = None
        self._tokenizer: Any = None
        self._problem = "model not loaded yet"

    async def start(self) -> None:
        with self._translate(loading=True):
            api = self._api or load_vllm_api()
            args = api.AsyncEngineArgs(model=self.source, max_model_len=self.context_length, **self.engine_options)
            self._engine = await asyncio.to_thread(api.AsyncLLM.from_engine_args, args)
            self._tokenizer = self._engine.get_tokenizer()
            self._api = api
        self._problem = ""

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation:
        started = time.perf_counter()
        final = None
        async with aclosing(self._outputs(request, max_tokens, temperature, "FINAL_ONLY")) as outputs:
            async for final in outputs:
                pass
        if final is None or not final.outputs:
            raise UpstreamError(f"{self.provider}: vLLM finished the request without an output")
        completion = final.outputs[0]
        usage = _usage(final, sum(len(output.token_ids) for output in final.outputs))
        self.counters.record(usage)
        answer, reasoning = split_reasoning(completion.text)
        return Generation(
            text=answer, reasoning=reasoning, usage=usage, finish_reason=completion.finish_reason or "stop",
            model=self.model, provider=self.provider, latency_s=time.perf_counter() - started,
            samples=[sample(output.text, output.finish_reason) for output in final.outputs[1:]],
        )

    async def stream(
        self, request: GenerationRequest, *, max_tokens: int, temperature: float
    ) -> AsyncIterator[StreamDelta]:
        splitter = ReasoningStreamSplitter()
        completion_tokens = 0
        last = None
        # aclosing: when our caller closes this stream, the engine request is closed (and aborted) at once.
        async with aclosing(self._outputs(request, max_tokens, temperature, "DELTA")) as outputs:
            async for last in outputs:
                if not last.outputs:
                    continue
                completion_tokens += len(last.outputs[0].token_ids)  # DELTA: only the new tokens
                answer, reasoning = splitter.feed(last.outputs[0].text)
                if answer or reasoning:
                    yield StreamDelta(text=answer, reasoning=reasoning, model=self.model, provider=self.provider)
        if last is None:
            raise UpstreamError(f"{self.provider}: vLLM finished the request without an output")
        usage = _usage(last, completion_tokens)
        self.counters.record(usage)
        answer, reasoning = splitter.flush()
        finish = (last.outputs[0].finish_reason if last.outputs else None) or "stop"
        yield StreamDelta(text=answer, reasoning=reasoning, usage=usage, finish_reason=finish, model=self.model,
                          provider=self.provider)

    async def _outputs(self, request: GenerationRequest, max_tokens: int, temperature: float,
                       kind: str) -> AsyncIterator[Any]:
        """The engine's ``RequestOutput`` objects for one request; aborts it there if we stop early."""
        if self._engine is None or self._api is None:
            raise TierUnavailable(f"{self.provider}: {self._problem}", code="model_not_loaded")
        with self._translate():
            prompt_ids = chat_prompt_ids(self._tokenizer, request)
        max_new = completion_room(prompt_ids, self.context_length, max_tokens, self.provider)
        params = self._sampling_params(request, max_new, temperature, kind)
        # Unique per call: the same router request id may reach this engine twice (a retried stream).
        request_id = f"{request.request_id}-{uuid.uuid4().hex[:8]}"
        finished = False
        outputs = self._engine.generate({"prompt_token_ids": prompt_ids}, params, request_id)
        try:
            with self._translate():
                async for output in outputs:
                    finished = bool(output.finished)
                    yield output
        finally:
            if not finished:
                # Cancelled, closed early or failed: free the sequence's slot and KV cache in the engine.
                await outputs.aclose()
                await self._engine.abort(request_id)

    def _sampling_params(self, request: GenerationRequest, max_tokens: int, temperature: float, kind: str) -> Any:
        api = self._api
        assert api is not None
        structured = None if request.json_schema is None else api.StructuredOutputsParams(json=request.json_schema)
        return api.SamplingParams(
            n=request.n if kind == "FINAL_ONLY" else 1,  # one prefill, n sequences; a stream is one answer
            max_tokens=max_tokens, temperature=temperature, stop=list(request.stop) or None,
            structured_outputs=structured, output_kind=getattr(api.RequestOutputKind, kind),
        )

    async def health(self) -> EngineHealth:
        if self._engine is None:
            return EngineHealth(False, f"{self.provider}: {self._problem}")
        try:
            with self._translate():
                await self._engine.check_health()
        except RouterError as exc:
            return EngineHealth(False, exc.message)
        return EngineHealth(True)

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        self._problem = "engine closed"
        if engine is not None:
            await asyncio.to_thread(engine.shutdown)

    @contextmanager
    def _translate(self, *, loading: bool = False) -> Iterator[None]:
        """The single point where vLLM's errors become router errors."""
        try:
            yield
        except RouterError:
            raise
        except Exception as exc:  # noqa: BLE001 - everything from vLLM lands in our tree here
            mapped = _map_vllm_error(exc, self.provider, loading)
            if loading:
                self._problem = mapped.message
            raise mapped from exc


def _map_vllm_error(exc: Exception, provider: str, loading: bool) -> RouterError:
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if loading:
        if isinstance(exc, ImportError):
            return TierUnavailable(f"{provider}: vLLM is not installed here (install the 'gpu' extra): {text}",
                                   code="engine_unavailable")
        return TierUnavailable(f"{provider}: cannot start vLLM: {type(exc).__name__}: {text}",
                               code="model_load_failed")
    if "EngineDeadError" in names:
        return TierUnavailable(f"{provider}: the vLLM engine has died: {text}", code="engine_dead")
    if "GracefulHTTPError" in names or "RetryableRequestError" in names:
        return TierUnavailable(f"{provider}: vLLM is busy: {text}", code=OVERLOADED)
    if "VLLMClientError" in names or isinstance(exc, ValueError):
        if any(marker in text.lower() for marker in _CONTEXT_MARKERS):
            return ContextTooLong(f"{provider}: {text}")
        return UpstreamRejected(f"{provider}: vLLM refused the request: {text}")
    if "OutOfMemoryError" in names:
        return TierUnavailable(f"{provider}: out of GPU memory: {text}", code="out_of_memory")
    return UpstreamError(f"{provider}: vLLM failed: {type(exc).__name__}: {text}")


def _usage(output: Any, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=completion_tokens,
        cached_prompt_tokens=int(output.num_cached_tokens or 0),
        cache_write_tokens=int(getattr(output, "num_cache_creation_tokens", None) or 0),
    )
