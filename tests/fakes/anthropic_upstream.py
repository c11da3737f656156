"""A real HTTP server on loopback that speaks Anthropic's Messages API (JSON and its server-sent event stream).

Like ``FakeUpstream`` it echoes the last user message (``[name] echo: ...``) and switches behaviour with
``mode``: ``ok`` | ``think`` (a thinking block first) | ``status:<code>`` (Anthropic's error body; 429 adds
``Retry-After: 2``) | ``slow:<seconds>`` | ``malformed`` | ``stream_error`` (an ``overloaded_error`` event
in the middle of a 200 stream) | ``fail_then_ok:<code>`` (that status once, then ``ok``).
It checks requests the way the API does (required fields, roles, temperature range) and answers 400
``invalid_request_error`` otherwise. Prompt caching is modelled: a system block marked with
``cache_control`` is written to the cache the first time (``cache_creation_input_tokens``) and read from it
after (``cache_read_input_tokens``). Tokens are counted as whitespace-separated words.
``tests/unit/test_fake_upstream.py`` checks it against the official ``anthropic`` client.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_upstream import FakeUpstream

_STATUS_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                 529: "overloaded_error"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": "error", "error": {"type": _STATUS_TYPES.get(status, "api_error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers or {})


def _words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content if isinstance(block, dict))


@dataclass
class AnthropicUpstream(FakeUpstream):
    cached_prefixes: set[str] = field(default_factory=set)

    @property
    def base_url(self) -> str:  # the SDK adds /v1/messages itself
        return f"http://127.0.0.1:{self.port}"

    def _routes(self) -> list[Route]:
        return [Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"])]

    async def _list_models(self, request: Request) -> Response:
        return JSONResponse({"data": [{"type": "model", "id": "claude-fake", "display_name": "Claude Fake",
                                       "created_at": "2025-01-01T00:00:00Z"}],
                             "has_more": False, "first_id": "claude-fake", "last_id": "claude-fake"})

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        mode = self.mode
        if mode.startswith("fail_then_ok:"):
            self.mode = "ok"
            mode = "status:" + mode.split(":", 1)[1]
        if mode.startswith("status:"):
            code = int(mode.split(":", 1)[1])
            return _error(code, f"fake failure {code}", {"retry-after": "2"} if code == 429 else None)
        problem = self._invalid(body)
        if problem:
            return _error(400, problem)
        if mode.startswith("slow:"):
            await asyncio.sleep(float(mode.split(":", 1)[1]))
        if mode == "malformed":
            return Response("this is not json", media_type="application/json")
        last = next((_text_of(m["content"]) for m in reversed(body["messages"]) if m["role"] == "user"), "")
        text = f"[{self.name}] echo: {last}"
        thinking = f"pondering {len(text)} chars" if mode == "think" else None
        usage = self._usage(body, text)
        if body.get("stream"):
            return StreamingResponse(self._events(body, text, thinking, usage, mode),
                                     media_type="text/event-stream")
        content = ([{"type": "thinking", "thinking": thinking, "signature": "sig"}] if thinking else []) + [
            {"type": "text", "text": text}]
        return JSONResponse({"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                             "content": content, "stop_reason": "end_turn", "stop_sequence": None, "usage": usage})

    def _invalid(self, body: dict[str, Any]) -> str | None:
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return f"{required}: Field required"
        if not 0.0 <= float(body.get("temperature", 1.0)) <= 1.0:
            return "temperature: Input should be less than or equal to 1"
        roles = [m.get("role") for m in body["messages"]]
        if any(role not in ("user", "assistant") for role in roles):
            return "messages: Unexpected role; only user and assistant are allowed, use the system parameter"
        if any(a == b for a, b in zip(roles, roles[1:])):
            return "messages: roles must alternate between user and assistant"
        return None

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        system = body.get("system") or []
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        cached_text = " ".join(b["text"] for b in blocks if b.get("cache_control"))
        rest = " ".join(b["text"] for b in blocks if not b.get("cache_control"))
        prompt = _words(rest) + sum(_words(_text_of(m["content"])) for m in body["messages"])
        read = written = 0
        if cached_text:
            if cached_text in self.cached_prefixes:
                read = _words(cached_text)
            else:
                written = _words(cached_text)
                self.cached_prefixes.add(cached_text)
        return {"input_tokens": prompt, "output_tokens": _words(text), "cache_creation_input_tokens": written,
                "cache_read_input_tokens": read}

    async def _events(self, body: dict[str, Any], text: str, thinking: str | None, usage: dict[str, int],
                      mode: str) -> AsyncIterator[str]:
        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        start_usage = {**usage, "output_tokens": 1}
        yield event("message_start", {"message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"], "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
        index = 0
        if thinking:
            yield event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                               "signature": ""}})
            yield event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": thinking}})
            yield event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "sig"}})
            yield event("content_block_stop", {"index": 0})
            index = 1
        yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        yield event("ping", {})
        for start in range(0, len(text), 5):
            yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta",
                                                                          "text": text[start:start + 5]}})
            if mode == "stream_error" and start >= 10:
                yield event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
                return
        yield event("content_block_stop", {"index": index})
        yield event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": usage["output_tokens"]}})
        yield event("message_stop", {})
