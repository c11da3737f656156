"""Anthropic's Messages API through the official ``anthropic`` SDK (``AsyncAnthropic``).

- ``max_tokens`` and ``stop_sequences`` are sent; temperature is not (the 2.x SDK has no such parameter).
- System (and developer) messages go into ``system``; the rest alternate user/assistant, with
  consecutive same-role turns merged as the API requires.
- Prompt caching: ``cache_control`` marks the system prompt and, in a conversation, the turn before the
  last user message, so the next turn reads the long prefix from the cache.
- Usage: Anthropic's ``input_tokens`` leaves out cached tokens; our ``prompt_tokens`` is every prompt
  token (input + cache read + cache write), with ``cached_prompt_tokens`` = ``cache_read_input_tokens``
  and ``cache_write_tokens`` = ``cache_creation_input_tokens``.
- Streaming uses the SDK's event stream (``messages.stream``): text and thinking deltas as they come,
  usage and stop reason from the final message.
- The SDK's own retries are off: ``models.retry`` retries (honouring ``Retry-After``) and counts.

SDK exceptions become ``router.core.errors`` at one point: ``translate_anthropic_error``.
"""

from collections.abc import AsyncIterator
from typing import Any

import anthropic

from models.retry import SERVER_ERROR, UNREACHABLE
from models.sdk_engine import SdkEngine
from models.upstream_errors import (
    error_for_status,
    retry_after_seconds,
    unrecognised_error,
)
from router.core.errors import (
    AuthenticationFailed,
    RouterError,
    TierUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage

_EPHEMERAL = {"type": "ephemeral"}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter", "pause_turn": "stop"}
# Mid-stream ``error`` events arrive on a 200 response; their body's type says what happened.
_STREAM_ERROR_STATUS = {"rate_limit_error": 429, "overloaded_error": 529, "api_error": 500,
                        "authentication_error": 401, "permission_error": 403, "not_found_error": 404,
                        "invalid_request_error": 400, "request_too_large": 413, "timeout_error": 504}


class AnthropicEngine(SdkEngine):
    def _make_client(self, *, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)

    def _params(self, request: GenerationRequest, max_tokens: int, temperature: float) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role in ("system", "developer"))
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role in ("system", "developer"):
                continue
            role = "assistant" if message.role == "assistant" else "user"
            block = {"type": "text", "text": message.content}
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": role, "content": [block]})
        if len(turns) >= 2:
            turns[-2]["content"][-1]["cache_control"] = _EPHEMERAL  # the conversation so far: a cacheable prefix
        # No temperature: the SDK (2.x) no longer takes one; the model's own default applies.
        params: dict[str, Any] = {"model": self.model, "messages": turns, "max_tokens": max_tokens}
        if system:
            params["system"] = [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
        if request.stop:
            params["stop_sequences"] = request.stop
        if request.json_schema is not None:
            params["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        return params

    async def _create(self, params: dict[str, Any]) -> Any:
        return await self._client.messages.create(**params)

    def _generation(self, message: Any) -> Generation:
        text = "".join(block.text for block in message.content if block.type == "text")
        reasoning = "".join(block.thinking for block in message.content if block.type == "thinking")
        return Generation(
            text=text, reasoning=reasoning or None, usage=_usage(message.usage),
            finish_reason=_finish(message.stop_reason), model=message.model or self.model, provider=self.provider,
        )

    async def _stream_once(self, params: dict[str, Any]) -> AsyncIterator[StreamDelta]:
        with self._translate():
            async with self._client.messages.stream(**params) as events:
                async for event in events:
                    if event.type == "text" and event.text:
                        yield StreamDelta(text=event.text, model=self.model, provider=self.provider)
                    elif event.type == "thinking" and event.thinking:
                        yield StreamDelta(reasoning=event.thinking, model=self.model, provider=self.provider)
                final = await events.get_final_message()
        yield StreamDelta(usage=_usage(final.usage), finish_reason=_finish(final.stop_reason),
                          model=final.model or self.model, provider=self.provider)

    def _probe(self) -> Any:
        return self._client.models.list(limit=1, timeout=5.0)

    def _error(self, exc: Exception) -> RouterError:
        return translate_anthropic_error(exc, self.provider)


def translate_anthropic_error(exc: Exception, provider: str) -> RouterError:
    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamTimeout(f"{provider}: Anthropic did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return TierUnavailable(f"{provider}: cannot reach Anthropic: {exc}", code=UNREACHABLE)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if status < 400:  # an ``error`` event inside a 200 stream
            status = _STREAM_ERROR_STATUS.get(str(exc.type or ""), 500)
        message = exc.api_message or str(exc)
        return error_for_status(status, message, provider=provider, where="Anthropic",
                                retry_after=retry_after_seconds(exc.response.headers))
    if isinstance(exc, anthropic.APIResponseValidationError):
        return UpstreamError(f"{provider}: Anthropic sent a response the SDK cannot read: {exc}")
    if isinstance(exc, anthropic.APIError):
        return UpstreamError(f"{provider}: Anthropic API error: {exc}")
    if isinstance(exc, anthropic.CredentialsError):
        return AuthenticationFailed(f"{provider}: Anthropic credentials problem: {exc}")
    if isinstance(exc, anthropic.RetryableError):
        return UpstreamError(f"{provider}: {exc}", code=SERVER_ERROR)
    if isinstance(exc, anthropic.AnthropicError):
        return UpstreamError(f"{provider}: Anthropic SDK error: {type(exc).__name__}: {exc}")
    return unrecognised_error(exc, provider=provider, where="Anthropic")


def _usage(raw: Any) -> Usage:
    read = int(getattr(raw, "cache_read_input_tokens", None) or 0)
    written = int(getattr(raw, "cache_creation_input_tokens", None) or 0)
    return Usage(
        prompt_tokens=int(raw.input_tokens or 0) + read + written, completion_tokens=int(raw.output_tokens or 0),
        cached_prompt_tokens=read, cache_write_tokens=written,
    )


def _finish(stop_reason: str | None) -> str:
    return _FINISH.get(stop_reason or "", stop_reason or "stop")
