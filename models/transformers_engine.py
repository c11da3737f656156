"""A Hugging Face checkpoint run in-process with ``transformers`` (CPU, or CUDA when present).

Loading and generation are blocking torch work, so both run in a worker thread; the event loop only
awaits them. Streaming uses ``TextIteratorStreamer``'s incremental detokenisation, delivered onto the
loop. One generation runs at a time per engine: on a CPU two at once only halve each other's speed.
Leaving a stream early sets a stop flag the model checks after every token.

Library errors become ``router.core.errors`` at one point, ``_translate``.
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from models.engine import Engine, EngineBuild, EngineHealth, TokenCounters
from models.local_prompt import chat_prompt_ids, completion_room
from models.reasoning import ReasoningStreamSplitter, split_reasoning
from models.samples import sample
from models.stop_strings import StopStringTrimmer, cut_at_stop
from router.core.errors import RouterError, TierUnavailable, UpstreamError
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage

_END = object()


class TransformersEngine(Engine):
    @classmethod
    def from_config(cls, config: Any, build: EngineBuild) -> Self:
        return cls(model=config.model, provider=build.provider, model_path=config.model_path, device=config.device,
                   context_length=build.context_length)

    def __init__(
        self, *, model: str, provider: str, model_path: str | None = None, device: str = "auto",
        context_length: int = 4096,
    ) -> None:
        self.model = model
        self.provider = provider
        self.source = model_path or model
        self.device_setting = device
        self.context_length = context_length
        self.counters = TokenCounters()
        self._tokenizer: Any = None
        self._model: Any = None
        self._device = "cpu"
        self._problem = "model not loaded yet"
        self._one_at_a_time = asyncio.Semaphore(1)

    async def start(self) -> None:
        with self._translate(loading=True):
            await asyncio.to_thread(self._load)
        self._problem = ""

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device_setting
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise TierUnavailable(f"{self.provider}: device cuda is configured but no CUDA device is visible",
                                  code="model_load_failed")
        # A local directory never needs the hub; saying so turns "offline" into a fast, clear error.
        local = Path(self.source).is_dir()
        tokenizer = AutoTokenizer.from_pretrained(self.source, local_files_only=local)
        dtype = torch.float32 if device == "cpu" else "auto"
        model = AutoModelForCausalLM.from_pretrained(self.source, dtype=dtype, local_files_only=local)
        self._tokenizer, self._model, self._device = tokenizer, model.to(device).eval(), device

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation:
        started = time.perf_counter()
        prompt_ids, max_new = self._prepare(request, max_tokens)
        async with self._one_at_a_time:
            with self._translate():
                sequences = await asyncio.to_thread(self._run, prompt_ids, max_new, temperature, request.stop, None,
                                                    None, request.n)
        texts = [cut_at_stop(self._tokenizer.decode(ids, skip_special_tokens=True), request.stop) for ids in sequences]
        usage = Usage(prompt_tokens=len(prompt_ids), completion_tokens=sum(len(ids) for ids in sequences))
        self.counters.record(usage)
        answer, reasoning = split_reasoning(texts[0])
        return Generation(
            text=answer, reasoning=reasoning, usage=usage, finish_reason=self._finish_reason(sequences[0], max_new),
            model=self.model, provider=self.provider, latency_s=time.perf_counter() - started,
            samples=[sample(text, self._finish_reason(ids, max_new)) for text, ids in zip(texts[1:], sequences[1:])],
        )

    async def stream(
        self, request: GenerationRequest, *, max_tokens: int, temperature: float
    ) -> AsyncIterator[StreamDelta]:
        prompt_ids, max_new = self._prepare(request, max_tokens)
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        streamer = _loop_streamer(self._tokenizer, loop, pieces)
        splitter = ReasoningStreamSplitter()
        trimmer = StopStringTrimmer(request.stop)  # cut before the reasoning split, as generate() does
        await self._one_at_a_time.acquire()
        work = asyncio.ensure_future(asyncio.to_thread(
            self._run, prompt_ids, max_new, temperature, request.stop, streamer, stop))
        # The semaphore is held until the thread has really finished, even when the caller left early.
        work.add_done_callback(lambda _: self._one_at_a_time.release())
        work.add_done_callback(lambda _: pieces.put_nowait(_END))
        try:
            while (piece := await pieces.get()) is not _END:
                answer, reasoning = splitter.feed(trimmer.feed(piece))
                if answer or reasoning:
                    yield StreamDelta(text=answer, reasoning=reasoning, model=self.model, provider=self.provider)
            with self._translate():
                new_ids = (await work)[0]  # a stream is one sequence
        finally:
            stop.set()  # the caller went away or something failed: stop generating
        usage = Usage(prompt_tokens=len(prompt_ids), completion_tokens=len(new_ids))
        self.counters.record(usage)
        answer, reasoning = splitter.feed(trimmer.flush())
        tail_answer, tail_reasoning = splitter.flush()
        answer, reasoning = answer + tail_answer, reasoning + tail_reasoning
        yield StreamDelta(text=answer, reasoning=reasoning, usage=usage,
                          finish_reason=self._finish_reason(new_ids, max_new), model=self.model, provider=self.provider)

    async def health(self) -> EngineHealth:
        if self._model is None:
            return EngineHealth(False, f"{self.provider}: {self._problem}")
        return EngineHealth(True)

    async def close(self) -> None:
        self._model = self._tokenizer = None
        self._problem = "engine closed"

    def _prepare(self, request: GenerationRequest, max_tokens: int) -> tuple[list[int], int]:
        if self._model is None:
            raise TierUnavailable(f"{self.provider}: {self._problem}", code="model_not_loaded")
        with self._translate():
            prompt_ids = chat_prompt_ids(self._tokenizer, request)
        return prompt_ids, completion_room(prompt_ids, self.context_length, max_tokens, self.provider)

    def _run(self, prompt_ids: list[int], max_new: int, temperature: float, stop_strings: list[str],
             streamer: Any, stop: threading.Event | None, n: int = 1) -> list[list[int]]:
        """Blocking: generate in this (worker) thread and return each sequence's new token ids. Greedy
        decoding (temperature 0) gives one sequence n times: it is decoded once."""
        import torch
        from transformers import (
            GenerationConfig,
            StoppingCriteria,
            StoppingCriteriaList,
        )

        class _Stopped(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop is not None and stop.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        config = GenerationConfig(
            max_new_tokens=max_new, do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
            eos_token_id=self._model.generation_config.eos_token_id,
            pad_token_id=self._model.generation_config.pad_token_id, stop_strings=stop_strings or None,
            num_return_sequences=n if temperature > 0 else 1,
        )
        inputs = torch.tensor([prompt_ids], device=self._device)
        with torch.inference_mode():
            output = self._model.generate(
                inputs, attention_mask=torch.ones_like(inputs), generation_config=config, streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_Stopped()]), tokenizer=self._tokenizer,
            )
        sequences = [self._trimmed(row[len(prompt_ids):].tolist()) for row in output]
        return sequences if len(sequences) == n else sequences * n

    def _trimmed(self, ids: list[int]) -> list[int]:
        """A shorter sequence of a batch ends in padding after its end token: drop the padding."""
        pad = self._model.generation_config.pad_token_id if self._model is not None else None
        eos = self._model.generation_config.eos_token_id if self._model is not None else None
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        while len(ids) > 1 and ids[-1] == pad and ids[-2] in eos_ids | {pad}:
            ids = ids[:-1]
        return ids

    def _finish_reason(self, new_ids: list[int], max_new: int) -> str:
        eos = self._model.generation_config.eos_token_id if self._model is not None else None
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        return "length" if len(new_ids) >= max_new and not (new_ids and new_ids[-1] in eos_ids) else "stop"

    @contextmanager
    def _translate(self, *, loading: bool = False) -> Iterator[None]:
        """The single point where torch/transformers errors become router errors."""
        try:
            yield
        except RouterError as exc:
            if loading:
                self._problem = exc.message
            raise
        except Exception as exc:  # noqa: BLE001 - everything from the library lands in our tree here
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            out_of_memory = "OutOfMemoryError" in type(exc).__name__ or "out of memory" in str(exc).lower()
            if loading:
                self._problem = f"cannot load {self.source}: {reason}"
                raise TierUnavailable(f"{self.provider}: {self._problem}", code="model_load_failed") from exc
            if out_of_memory:
                raise TierUnavailable(f"{self.provider}: out of memory while generating: {reason}",
                                      code="out_of_memory") from exc
            raise UpstreamError(f"{self.provider}: generation failed: {reason}") from exc


def _loop_streamer(tokenizer: Any, loop: asyncio.AbstractEventLoop, queue: "asyncio.Queue[Any]") -> Any:
    """A ``TextIteratorStreamer`` whose finished text pieces land on the event loop's queue."""
    from transformers import TextIteratorStreamer

    class LoopStreamer(TextIteratorStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                loop.call_soon_threadsafe(queue.put_nowait, text)

    return LoopStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

