"""What an upstream's HTTP error status means in our error tree, shared by the HTTP and SDK engines.

Each engine still has its own single translation point for its library's exceptions; when that point
holds an error status, it asks ``error_for_status`` so every backend maps a status the same way.
Transient failures get a code from ``models.retry`` so the retry layer knows to try again.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

from models.engine import EngineHealth
from models.retry import OVERLOADED, SERVER_ERROR
from router.core.errors import (
    AuthenticationFailed,
    ContextTooLong,
    RateLimited,
    RouterError,
    TierUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)

log = logging.getLogger(__name__)

CONTEXT_MARKERS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long",
                   "context window")


def error_for_status(
    status: int, message: str, *, provider: str, where: str, retry_after: float | None = None
) -> RouterError:
    said = f"{provider}: {where} answered {status}: {message}"
    if status in (401, 403):
        return AuthenticationFailed(f"{provider}: the upstream refused the credentials ({status}) at {where}: {message}")
    if status == 402:
        return TierUnavailable(said, code="upstream_payment_required")
    if status == 404:
        return TierUnavailable(f"{provider}: the upstream has no such model or route ({where}): {message}",
                               code="upstream_not_found")
    if status == 429:
        return RateLimited(f"{provider}: rate limited at {where}: {message}", retry_after=retry_after)
    if status == 413:
        return ContextTooLong(f"{provider}: the request is too large for {where}: {message}")
    if 400 <= status < 500 and status not in (408, 409, 499):
        if any(marker in message.lower() for marker in CONTEXT_MARKERS):
            return ContextTooLong(f"{provider}: the context is too long: {message}")
        return UpstreamRejected(f"{provider}: the upstream rejected the request ({status}): {message}")
    if status in (408, 504):
        return UpstreamTimeout(said)
    if status in (503, 529):
        return UpstreamError(said, code=OVERLOADED)
    if status >= 500 or status == 409:
        return UpstreamError(said, code=SERVER_ERROR)
    return UpstreamError(said)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` (seconds or an HTTP date), or ``retry-after-ms`` as OpenAI and Anthropic also send."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def unrecognised_error(exc: Exception, *, provider: str, where: str) -> RouterError:
    """The last line of an SDK's translation table: an exception that is not the SDK's own."""
    if isinstance(exc, ValueError):  # SDKs let json's (and pydantic's) decoding errors through as they are
        return UpstreamError(f"{provider}: {where} sent a body that cannot be read ({type(exc).__name__}: {exc})")
    # Not the SDK's and not a bad body: most likely a bug of ours. Log it so it is not lost as a 502.
    log.warning("%s: unexpected %s from the %s call", provider, type(exc).__name__, where, exc_info=exc)
    return UpstreamError(f"{provider}: unexpected answer from {where} ({type(exc).__name__}: {exc})")


@contextmanager
def translated(translate: Callable[[Exception], RouterError]) -> Iterator[None]:
    """The single point where a library's exceptions become router errors: ours pass, all others map."""
    try:
        yield
    except RouterError:
        raise
    except Exception as exc:  # noqa: BLE001 - all of it, library or not, leaves as one of ours
        raise translate(exc) from exc


async def probe_health(probe: Callable[[], Awaitable[object]],
                       translate: Callable[[Exception], RouterError]) -> EngineHealth:
    """Healthy when a cheap call (listing models) succeeds; the translated reason when it does not."""
    try:
        with translated(translate):
            await probe()
    except RouterError as exc:
        return EngineHealth(False, exc.message)
    return EngineHealth(True)
