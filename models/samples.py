"""``n`` completions of one request. Engines that sample n at once (vLLM ``SamplingParams(n)``, transformers
``num_return_sequences``, an OpenAI-style ``n``) return them in one ``Generation``; for the others, and for a
server that returned fewer choices than asked, the missing ones are made by concurrent single calls."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from models.reasoning import split_reasoning
from router.core.generation import Generation, GenerationRequest, Sample


def merged(answers: Sequence[Generation]) -> Generation:
    """One Generation: the first answer's text, the others as samples, every call's usage counted."""
    first, rest = answers[0], answers[1:]
    usage = sum((a.usage for a in rest), first.usage)
    samples = [*first.samples, *(s for a in rest for s in (Sample(text=a.text, finish_reason=a.finish_reason),
                                                           *a.samples))]
    return first.model_copy(update={"usage": usage, "samples": samples,
                                    "latency_s": max(a.latency_s for a in answers)})


async def concurrent_samples(one: Callable[[GenerationRequest], Awaitable[Generation]],
                             request: GenerationRequest) -> Generation:
    """``request.n`` answers from an engine that answers one at a time."""
    if request.n == 1:
        return await one(request)
    single = request.model_copy(update={"n": 1})
    return merged(await asyncio.gather(*(one(single) for _ in range(request.n))))


async def topped_up(answer: Generation, request: GenerationRequest,
                    one: Callable[[GenerationRequest], Awaitable[Generation]]) -> Generation:
    """A server that ignored ``n`` (or returned fewer choices): the missing samples by concurrent calls."""
    missing = request.n - 1 - len(answer.samples)
    if missing <= 0:
        return answer
    more = await concurrent_samples(one, request.model_copy(update={"n": missing}))
    return merged([answer, more])


def sample(text: str, finish_reason: str | None) -> Sample:
    """A completion's answer text (its reasoning left out, as for the first answer)."""
    return Sample(text=split_reasoning(text)[0], finish_reason=finish_reason or "stop")

