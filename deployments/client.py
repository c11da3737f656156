"""The Python API other Ray jobs use to call the router through its deployment handle.

    import ray
    from deployments.client import RouterClient

    ray.init(address="auto", namespace="serve")   # join the cluster the router runs on
    router = RouterClient()                        # app "tiered-router"
    answer = router.generate_sync([{"role": "user", "content": "hi"}])
    decision = router.route_sync([{"role": "user", "content": "hi"}])
    async for chunk in router.stream([{"role": "user", "content": "count to 3"}]): ...

Calls take the same body as POST /v1/chat/completions (or just the messages) and raise the same
``router.core.errors`` types that HTTP callers receive as status codes: ``RoutingFailure`` (503),
``PromptRejected`` (400), ``BudgetExceeded`` (402), ...
"""

from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from deployments.handles import call, router_errors, stream

DEFAULT_APP = "tiered-router"


def _body(messages_or_body: list[dict[str, Any]] | dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    body = dict(messages_or_body) if isinstance(messages_or_body, dict) else {"messages": messages_or_body}
    body.update(extra)
    return body


class RouterClient:
    def __init__(self, app_name: str = DEFAULT_APP, *, api_key: str | None = None) -> None:
        """``api_key``: the workspace key whose budget and provider keys the calls use (not needed
        under the local profile)."""
        self.app_name = app_name
        self._handle = serve.get_app_handle(app_name)
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    def __repr__(self) -> str:
        return f"RouterClient(app_name={self.app_name!r}, authenticated={bool(self._headers)})"

    async def generate(self, messages_or_body: list[dict[str, Any]] | dict[str, Any], **extra: Any) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` dict with the decision under ``router``."""
        return await call(self._handle.generate.remote(_body(messages_or_body, extra), self._headers), self.app_name)

    async def route(self, messages_or_body: list[dict[str, Any]] | dict[str, Any], **extra: Any) -> dict[str, Any]:
        """The routing decision only; nothing is generated."""
        return await call(self._handle.route.remote(_body(messages_or_body, extra), self._headers), self.app_name)

    async def stream(self, messages_or_body: list[dict[str, Any]] | dict[str, Any],
                     **extra: Any) -> AsyncIterator[dict[str, Any]]:
        """OpenAI ``chat.completion.chunk`` dicts; the last chunk carries the decision."""
        body = _body(messages_or_body, {**extra, "stream": True})
        async for chunk in stream(self._handle.options(stream=True).generate_stream.remote(body, self._headers), self.app_name):
            yield chunk

    def generate_sync(self, messages_or_body: list[dict[str, Any]] | dict[str, Any], **extra: Any) -> dict[str, Any]:
        with router_errors(self.app_name):
            return self._handle.generate.remote(_body(messages_or_body, extra), self._headers).result()

    def route_sync(self, messages_or_body: list[dict[str, Any]] | dict[str, Any], **extra: Any) -> dict[str, Any]:
        with router_errors(self.app_name):
            return self._handle.route.remote(_body(messages_or_body, extra), self._headers).result()

    def stream_sync(self, messages_or_body: list[dict[str, Any]] | dict[str, Any], **extra: Any) -> list[dict[str, Any]]:
        body = _body(messages_or_body, {**extra, "stream": True})
        with router_errors(self.app_name):
            return list(self._handle.options(stream=True).generate_stream.remote(body, self._headers))
