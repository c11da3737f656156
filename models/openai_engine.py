"""OpenAI's chat completions through the official ``openai`` SDK (``AsyncOpenAI``).

- ``max_completion_tokens`` (what current OpenAI models take; ``max_tokens`` is refused by reasoning models),
  ``stop``, and a JSON schema as ``response_format``.
- Usage: ``prompt_tokens`` includes cached ones; ``prompt_tokens_details.cached_tokens`` are the cache reads
  (OpenAI caches automatically and does not bill writes).
- Streaming asks for ``stream_options.include_usage`` so the last chunk carries the usage.
- The SDK's own retries are off: ``models.retry`` retries (honouring ``Retry-After``) and counts.

SDK exceptions become ``router.core.errors`` at one point: ``translate_openai_error``.
"""

from collections.abc import AsyncIterator
from typing import Any

import openai

from models.openai_compatible import json_schema_format
from models.reasoning import ReasoningStreamSplitter, split_reasoning
from models.retry import UNREACHABLE
from models.samples import sample
from models.sdk_engine import SdkEngine
from models.upstream_errors import (
    error_for_status,
    retry_after_seconds,
    unrecognised_error,
)
from router.core.errors import (
    RouterError,
    TierUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage


class OpenAIEngine(SdkEngine):
    accepts_n = True

    def _make_client(self, *, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)

    def _params(self, request: GenerationRequest, max_tokens: int, temperature: float) -> dict[str, Any]:
        params: dict[str, Any] = {
            # A bare tool message (no tool_call_id) is refused by the API: it travels as user text.
            "messages": [{"role": "user" if m.role == "tool" else m.role, "content": m.content}
                         for m in request.messages],
            "model": self.model, "max_completion_tokens": max_tokens, "temperature": temperature,
        }
        if request.stop:
            params["stop"] = request.stop
        if request.json_schema is not None:
            params["response_format"] = json_schema_format(request.json_schema)
        if request.n > 1:
            params["n"] = request.n
        return params

    async def _create(self, params: dict[str, Any]) -> Any:
        completion = await self._client.chat.completions.create(**params)
        if not completion.choices:
            raise UpstreamError(f"{self.provider}: OpenAI returned a completion without choices")
        return completion

    def _generation(self, completion: Any) -> Generation:
        choice = completion.choices[0]
        answer, reasoning = split_reasoning(choice.message.content or "")
        # OpenAI-compatible servers behind this SDK (DeepSeek, vLLM) may send the reasoning apart.
        reasoning = (choice.message.model_extra or {}).get("reasoning_content") or reasoning
        return Generation(
            text=answer, reasoning=reasoning, usage=_usage(completion.usage),
            finish_reason=choice.finish_reason or "stop", model=completion.model or self.model, provider=self.provider,
            samples=[sample(c.message.content or "", c.finish_reason) for c in completion.choices[1:]],
        )

    async def _stream_once(self, params: dict[str, Any]) -> AsyncIterator[StreamDelta]:
        splitter = ReasoningStreamSplitter()
        usage, finish_reason, model, received = Usage(), "stop", self.model, 0
        with self._translate():
            chunks = await self._client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True})
            async with chunks:  # leaving early closes the HTTP response
                async for chunk in chunks:
                    received += 1
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices:
                        answer, reasoning = splitter.feed(choice.delta.content or "")
                        reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
                        finish_reason = choice.finish_reason or finish_reason
                        if answer or reasoning:
                            yield StreamDelta(text=answer, reasoning=reasoning, model=model, provider=self.provider)
        if received == 0:  # a body that is not an event stream parses as no events at all
            raise UpstreamError(f"{self.provider}: OpenAI answered a stream request with no events")
        answer, reasoning = splitter.flush()
        yield StreamDelta(text=answer, reasoning=reasoning, usage=usage, finish_reason=finish_reason, model=model,
                          provider=self.provider)

    def _probe(self) -> Any:
        return self._client.models.list(timeout=5.0)

    def _error(self, exc: Exception) -> RouterError:
        return translate_openai_error(exc, self.provider)


def translate_openai_error(exc: Exception, provider: str) -> RouterError:
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout(f"{provider}: OpenAI did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return TierUnavailable(f"{provider}: cannot reach OpenAI: {exc}", code=UNREACHABLE)
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = str(body.get("message") or exc.message)
        return error_for_status(exc.status_code, message, provider=provider, where="OpenAI",
                                retry_after=retry_after_seconds(exc.response.headers))
    if isinstance(exc, openai.APIResponseValidationError):
        return UpstreamError(f"{provider}: OpenAI sent a response the SDK cannot read: {exc}")
    if isinstance(exc, openai.APIError):
        return UpstreamError(f"{provider}: OpenAI API error: {exc}")
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return UpstreamRejected(f"{provider}: OpenAI's content filter refused the answer")
    if isinstance(exc, openai.WebSocketConnectionClosedError):
        return TierUnavailable(f"{provider}: OpenAI closed the connection: {exc}", code=UNREACHABLE)
    if isinstance(exc, openai.OpenAIError):
        return UpstreamError(f"{provider}: OpenAI SDK error: {type(exc).__name__}: {exc}")
    return unrecognised_error(exc, provider=provider, where="OpenAI")


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    details = getattr(raw, "prompt_tokens_details", None)
    return Usage(
        prompt_tokens=int(raw.prompt_tokens or 0), completion_tokens=int(raw.completion_tokens or 0),
        cached_prompt_tokens=int(getattr(details, "cached_tokens", None) or 0),
    )
