"""Calling deployment handles with our error tree intact, and tier endpoints built over handles."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, RequestCancelledError
from ray.serve.handle import DeploymentHandle

from router.core.config import CallAction
from router.core.errors import (
    RouterError,
    TierSaturated,
    TierUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from router.core.generation import Generation, GenerationRequest, StreamDelta
from router.core.tiers import TierEndpoint, TierStatus

T = TypeVar("T")

STATUS_TTL_S = 5.0
STATUS_TIMEOUT_S = 2.0


def _translate(exc: BaseException, what: str) -> BaseException:
    """Ray wraps a replica's exception; give callers our own error back."""
    if isinstance(exc, RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, RouterError):
            return cause
        return UpstreamError(f"{what} failed: {type(cause or exc).__name__}")
    if isinstance(exc, RayActorError):
        return TierUnavailable(f"{what}: its replica died", code="replica_unavailable")
    if isinstance(exc, BackPressureError):
        return TierSaturated(f"{what} is saturated: every replica is busy and this caller's queue is full")
    return exc


@contextmanager
def router_errors(what: str) -> Iterator[None]:
    """Around any handle call, sync or async: Ray's and Serve's failures leave as our own errors."""
    try:
        yield
    except RequestCancelledError:
        # Serve reports our own cancellation (a timeout in wait_for) this way; give asyncio its own signal back.
        raise asyncio.CancelledError from None
    except (RayTaskError, RayActorError, BackPressureError) as exc:
        raise _translate(exc, what) from None


async def call(awaitable: Awaitable[T], what: str) -> T:
    with router_errors(what):
        return await awaitable


async def stream(generator: Any, what: str) -> AsyncIterator[Any]:
    with router_errors(what):
        async for item in generator:
            yield item


class StatusCache:
    """Asks a tier deployment for its status at most once per TTL."""

    def __init__(self, handle: DeploymentHandle, what: str) -> None:
        self._handle = handle
        self._what = what
        self._value: TierStatus | None = None
        self._at = 0.0

    async def get(self) -> TierStatus:
        if self._value is not None and time.monotonic() - self._at < STATUS_TTL_S:
            return self._value
        try:
            value = await asyncio.wait_for(call(self._handle.status.remote(), self._what), STATUS_TIMEOUT_S)
        except asyncio.TimeoutError:
            value = TierStatus(False, f"{self._what} did not report its status within {STATUS_TIMEOUT_S:g}s")
        except Exception as exc:  # noqa: BLE001 - any failure to answer means unavailable
            value = TierStatus(False, f"{self._what} is not responding: {getattr(exc, 'message', type(exc).__name__)}")
        self._value, self._at = value, time.monotonic()
        return value


def tier_endpoint(number: int, handle: DeploymentHandle, timeout_s: float) -> TierEndpoint:
    what = f"tier {number} deployment {handle.deployment_name!r}"
    streaming = handle.options(stream=True)
    cache = StatusCache(handle, what)

    async def generate(request: GenerationRequest) -> Generation:
        return await call(handle.generate.remote(request), what)

    async def generate_stream(request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        async for delta in stream(streaming.generate_stream.remote(request), what):
            yield delta

    return TierEndpoint(number=number, generate=generate, stream=generate_stream, status=cache.get, timeout_s=timeout_s)


async def call_serve_target(action: CallAction, args: dict[str, Any]) -> Any:
    """The Tier 0 ``call`` action: invoke another Serve application (or one of its deployments)."""
    from ray import serve

    what = f"application {action.app!r}" + (f" deployment {action.deployment!r}" if action.deployment else "")
    try:
        handle = (
            serve.get_deployment_handle(action.deployment, app_name=action.app)
            if action.deployment else serve.get_app_handle(action.app)
        )
    except Exception as exc:  # noqa: BLE001 - Serve raises several types for "no such app"
        raise TierUnavailable(f"command target {what} is not running: {exc}", code="command_target_missing") from None
    method = getattr(handle, action.method)
    try:
        return await asyncio.wait_for(call(method.remote(args), what), action.timeout_s)
    except asyncio.TimeoutError:
        raise UpstreamTimeout(f"command target {what} did not answer within {action.timeout_s:g}s") from None
