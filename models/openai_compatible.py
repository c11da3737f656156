"""An OpenAI-compatible chat-completions server over HTTP (Ollama, a vLLM server, llama.cpp, the DGX Spark).

httpx's errors and the server's error statuses are translated into ``router.core.errors`` in exactly
one place, ``_translate``; every other function lets them pass through it. Retries, the per-call
timeout and pacing come from ``models.retry``, around each single attempt.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, Self

import httpx

from models.engine import Engine, EngineBuild, EngineHealth, TokenCounters
from models.reasoning import ReasoningStreamSplitter, split_reasoning
from models.retry import UNREACHABLE, Resilience, RetryPolicy
from models.samples import sample, topped_up
from models.upstream_errors import (
    error_for_status,
    probe_health,
    retry_after_seconds,
    translated,
    unrecognised_error,
)
from router.core.errors import (
    RouterError,
    TierUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage


class OpenAICompatibleEngine(Engine):
    @classmethod
    def from_config(cls, config: Any, build: EngineBuild) -> Self:
        return cls(base_url=config.base_url, model=config.model, provider=build.provider, api_key=build.api_key,
                   **build.retry(config))

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        provider: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        min_interval_s: float = 0.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.provider = provider
        self.timeout_s = timeout_s
        self.counters = TokenCounters()
        self._resilience = Resilience(
            RetryPolicy(timeout_s=timeout_s, max_retries=max_retries, min_interval_s=min_interval_s),
            self.counters, name=provider, sleep=sleep,
        )
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            transport=transport,
        )

    def _body(self, request: GenerationRequest, max_tokens: int, temperature: float, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if request.stop:
            body["stop"] = request.stop
        if request.json_schema is not None:
            body["response_format"] = json_schema_format(request.json_schema)
        if request.n > 1 and not stream:
            body["n"] = request.n
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation:
        answer = await self._resilience.generate(lambda: self._generate_once(request, max_tokens, temperature))

        async def one(single: GenerationRequest) -> Generation:
            return await self.generate(single, max_tokens=max_tokens, temperature=temperature)

        return await topped_up(answer, request, one)  # servers that ignore n (Ollama) get concurrent calls

    async def stream(
        self, request: GenerationRequest, *, max_tokens: int, temperature: float
    ) -> AsyncIterator[StreamDelta]:
        async for delta in self._resilience.stream_answer(lambda: self._stream_once(request, max_tokens, temperature)):
            yield delta

    async def _generate_once(self, request: GenerationRequest, max_tokens: int, temperature: float) -> Generation:
        with self._translate():
            response = await self._client.post("/chat/completions", json=self._body(request, max_tokens, temperature, False))
            _raise_for_status(response, self.provider)
            payload = _json(response)
        try:
            choice = payload["choices"][0]
            message = choice["message"]
            content = message.get("content") or ""
            usage = _usage(payload.get("usage"))
            finish_reason = choice.get("finish_reason") or "stop"
            others = [sample(c["message"].get("content") or "", c.get("finish_reason"))
                      for c in payload["choices"][1:request.n]]
        except (KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(f"{self.provider}: malformed chat completion from {self.base_url}: missing {exc}") from None
        answer, reasoning = split_reasoning(content)
        reasoning = message.get("reasoning_content") or message.get("reasoning") or reasoning
        return Generation(
            text=answer, reasoning=reasoning, usage=usage, finish_reason=finish_reason,
            model=payload.get("model") or self.model, provider=self.provider, samples=others,
        )

    async def _stream_once(
        self, request: GenerationRequest, max_tokens: int, temperature: float
    ) -> AsyncIterator[StreamDelta]:
        splitter = ReasoningStreamSplitter()
        usage = Usage()
        finish_reason = "stop"
        model = self.model
        events = 0
        with self._translate():
            async with self._client.stream(
                "POST", "/chat/completions", json=self._body(request, max_tokens, temperature, True)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for_status(response, self.provider)
                async for line in response.aiter_lines():
                    event = _sse_data(line)
                    if event is None:
                        continue
                    events += 1
                    if event == "[DONE]":
                        break
                    chunk = _json_text(event, self.provider)
                    model = chunk.get("model") or model
                    if chunk.get("usage"):
                        usage = _usage(chunk["usage"])
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        answer, reasoning = splitter.feed(delta.get("content") or "")
                        reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
                        finish_reason = choice.get("finish_reason") or finish_reason
                        if answer or reasoning:
                            yield StreamDelta(text=answer, reasoning=reasoning, model=model, provider=self.provider)
        if events == 0:
            raise UpstreamError(f"{self.provider}: {self.base_url} answered a stream request with no server-sent events")
        answer, reasoning = splitter.flush()
        yield StreamDelta(
            text=answer, reasoning=reasoning, usage=usage, finish_reason=finish_reason, model=model,
            provider=self.provider,
        )

    async def health(self) -> EngineHealth:
        return await probe_health(self._probe, self._error)

    async def _probe(self) -> None:
        _raise_for_status(await self._client.get("/models", timeout=2.0), self.provider)

    async def close(self) -> None:
        await self._client.aclose()

    def _translate(self) -> AbstractContextManager[None]:
        """The single point where httpx errors become router errors."""
        return translated(self._error)

    def _error(self, exc: Exception) -> RouterError:
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(f"{self.provider}: no answer from {self.base_url} in time ({type(exc).__name__})")
        if isinstance(exc, httpx.TransportError):
            return TierUnavailable(f"{self.provider}: cannot reach {self.base_url} ({type(exc).__name__}: {exc})",
                                   code=UNREACHABLE)
        if isinstance(exc, httpx.HTTPError):
            return UpstreamError(f"{self.provider}: HTTP error talking to {self.base_url}: {exc}")
        return unrecognised_error(exc, provider=self.provider, where=self.base_url)


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a JSON schema; vLLM's server and Ollama accept it too."""
    return {"type": "json_schema", "json_schema": {"name": str(schema.get("title") or "answer"), "schema": schema}}


def _raise_for_status(response: httpx.Response, provider: str) -> None:
    if response.status_code < 400:
        return
    raise error_for_status(
        response.status_code, _error_message(response), provider=provider,
        where=f"{response.request.method} {response.request.url}", retry_after=retry_after_seconds(response.headers),
    )


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(payload)[:300]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise UpstreamError(f"upstream sent a body that is not JSON: {response.text[:200]!r}") from None
    if not isinstance(payload, dict):
        raise UpstreamError("upstream sent JSON that is not an object")
    return payload


def _json_text(text: str, provider: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError:
        raise UpstreamError(f"{provider}: a stream event is not JSON: {text[:200]!r}") from None
    if not isinstance(payload, dict):
        raise UpstreamError(f"{provider}: a stream event is not a JSON object")
    if "error" in payload:
        raise UpstreamError(f"{provider}: the stream reported an error: {payload['error']}")
    return payload


def _sse_data(line: str) -> str | None:
    if not line.startswith("data:"):
        return None
    return line[5:].strip()


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_prompt_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )
