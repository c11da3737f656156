"""The one error tree of the router.

Every error the router, an engine or a deployment raises on purpose is a ``RouterError``.
Each class fixes the HTTP status and the OpenAI-style ``type``; the instance carries a
precise ``message`` and a machine-readable ``code``. The ingress turns any of them into
``{"error": {"message", "type", "code", "param"}}``; nothing else invents error bodies.

    RouterError
    +-- InvalidRequest            400 invalid_request_error
    |   +-- PromptRejected        400 (code prompt_rejected)
    +-- AuthenticationFailed      401 authentication_error
    +-- BudgetExceeded            402 insufficient_quota
    +-- PermissionDenied          403 permission_error
    +-- NotFound                  404 not_found_error
    +-- MethodNotAllowed          405 invalid_request_error (allow: the methods the path takes)
    +-- PayloadTooLarge           413 invalid_request_error
    +-- RateLimited               429 rate_limit_error   (retry_after seconds)
    +-- UpstreamError             502 api_error          (a model or provider failed)
    |   +-- UpstreamTimeout       504 timeout_error
    |   +-- UpstreamRejected      400 invalid_request_error (the upstream refused our request)
    |   +-- ContextTooLong        400 invalid_request_error
    |   +-- InvalidClassification 502 (the micro model's JSON was unusable)
    +-- TierUnavailable           503 service_unavailable (a tier cannot serve now, and why)
    |   +-- TierSaturated         503 (no free slot in the tier within its queue wait)
    +-- RoutingFailure            503 service_unavailable (every tier tried failed; the chain)
    +-- InternalError             500 api_error          (a bug of ours; logged, never shown)

Errors cross Ray process boundaries (a replica raises, the ingress catches), so every
class pickles with its fields intact.
"""

from typing import Any


class RouterError(Exception):
    status_code: int = 500
    error_type: str = "api_error"
    default_code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.details = details or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields would be lost by Exception's default pickling.
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {"code": self.code, "param": self.param, "details": self.details}

    def to_body(self) -> dict[str, Any]:
        """The OpenAI-style error body for this error."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "param": self.param,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {}


def _rebuild(cls: type[RouterError], message: str, state: dict[str, Any]) -> RouterError:
    return cls(message, **state)


class InvalidRequest(RouterError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class PromptRejected(InvalidRequest):
    default_code = "prompt_rejected"


class AuthenticationFailed(RouterError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class BudgetExceeded(RouterError):
    status_code = 402
    error_type = "insufficient_quota"
    default_code = "budget_exceeded"


class PermissionDenied(RouterError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFound(RouterError):
    status_code = 404
    error_type = "not_found_error"
    default_code = "not_found"


class MethodNotAllowed(RouterError):
    status_code = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"

    def __init__(self, message: str, *, allow: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.allow = allow

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "allow": self.allow}

    def headers(self) -> dict[str, str]:
        return {"allow": self.allow} if self.allow else {}


class PayloadTooLarge(RouterError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class RateLimited(RouterError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after)))}


class UpstreamError(RouterError):
    status_code = 502
    error_type = "api_error"
    default_code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    error_type = "timeout_error"
    default_code = "upstream_timeout"


class UpstreamRejected(UpstreamError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "upstream_rejected"


class ContextTooLong(UpstreamError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "context_length_exceeded"


class InvalidClassification(UpstreamError):
    """The micro model's classification could not be mended into a valid one."""

    default_code = "invalid_classification"


class TierUnavailable(RouterError):
    status_code = 503
    error_type = "service_unavailable"
    default_code = "tier_unavailable"


class TierSaturated(TierUnavailable):
    """No free slot in the tier within its queue wait."""

    default_code = "tier_saturated"


class RoutingFailure(RouterError):
    status_code = 503
    error_type = "service_unavailable"
    default_code = "routing_failure"


class InternalError(RouterError):
    """Something failed that should not have: the details go to the log, the caller gets this."""

    status_code = 500
    error_type = "api_error"
    default_code = "internal_error"


# Failures that move a request on to the next tier (or the next attempt) instead of ending it.
ESCALATABLE_ERRORS = (TierUnavailable, UpstreamError, RateLimited)
