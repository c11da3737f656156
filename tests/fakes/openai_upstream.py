"""A real HTTP server on loopback that speaks OpenAI chat completions (JSON and SSE).

It answers with a deterministic echo of the last user message, so a test can tell which upstream
answered what, followed by a good self-assessment block when the system prompt asks for one. Behaviour is switched per server with ``FakeUpstream.mode``:
``ok`` | ``think`` (a DeepSeek-R1 style ``<think>`` block first) | ``status:<code>`` (an error
status with an OpenAI error body; 429 adds ``Retry-After: 2``) | ``slow:<seconds>`` | ``malformed`` |
``fail_then_ok:<code>`` (that status once, then ``ok``).
``tests/unit/test_fake_upstream.py`` checks it against the official ``openai`` client.
"""

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answer_for(messages: list[dict[str, Any]], name: str) -> str:
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return f"[{name}] echo: {last}"


@dataclass
class FakeUpstream:
    name: str = "fake"
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeUpstream":
        self.port = free_port()
        app = Starlette(routes=self._routes())
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def _routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0,
                                                         "owned_by": self.name}]})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization"))
        mode = self.mode
        if mode.startswith("fail_then_ok:"):  # one failure, then healthy again: what a retry should ride out
            self.mode = "ok"
            mode = "status:" + mode.split(":", 1)[1]
        if mode.startswith("status:"):
            code = int(mode.split(":", 1)[1])
            headers = {"retry-after": "2"} if code == 429 else {}
            return JSONResponse({"error": {"message": f"fake failure {code}", "type": "server_error", "code": None}},
                                status_code=code, headers=headers)
        if mode.startswith("slow:"):
            await asyncio.sleep(float(mode.split(":", 1)[1]))
        if mode == "malformed":
            return Response("this is not json", media_type="application/json")
        text = answer_for(body["messages"], self.name)
        if any(m["role"] == "system" and "<assessment>" in m["content"] for m in body["messages"]):
            # Follow the router's self-assessment instruction, as a compliant model does.
            text += '\n<assessment>{"quality": 0.9, "reasoning_depth": 1, "escalate": false}</assessment>'
        full = f"<think>pondering {len(text)} chars</think>{text}" if mode == "think" else text
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        completion_tokens = len(full.split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens, "prompt_tokens_details": {"cached_tokens": 0}}
        model = body.get("model", "fake-model")
        if body.get("stream"):
            return StreamingResponse(self._events(full, model, usage, body), media_type="text/event-stream")
        return JSONResponse({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": full}, "finish_reason": "stop",
                         "logprobs": None}],
            "usage": usage,
        })

    async def _events(self, full: str, model: str, usage: dict[str, Any], body: dict[str, Any]):
        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": choices, **extra}
            return f"data: {json.dumps(chunk)}\n\n"

        yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        # Small pieces, so tags get split across events as they do with real servers.
        for start in range(0, len(full), 5):
            yield event([{"index": 0, "delta": {"content": full[start:start + 5]}, "finish_reason": None}])
        yield event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            yield event([], usage=usage)
        yield "data: [DONE]\n\n"
