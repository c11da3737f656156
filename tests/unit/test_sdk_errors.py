"""Every exception the anthropic and openai SDKs define maps to exactly the router error we mean.

The classes are enumerated from the SDKs themselves (their ``_exceptions`` modules, and for Anthropic the
status/error-code table it picks status classes from), so an SDK upgrade that adds a class shows up
here until it has been looked at.
"""

import inspect
import json

import anthropic
import anthropic._error_classes
import anthropic._exceptions
import httpx2
import openai
import openai._exceptions
import pytest
from openai.types.chat import ChatCompletion

from models.anthropic_engine import translate_anthropic_error
from models.openai_engine import translate_openai_error
from models.retry import is_retryable
from router.core.errors import (
    AuthenticationFailed,
    ContextTooLong,
    RateLimited,
    TierUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)

BY_STATUS = {400: UpstreamRejected, 401: AuthenticationFailed, 402: TierUnavailable, 403: AuthenticationFailed,
             404: TierUnavailable, 408: UpstreamTimeout, 409: UpstreamError, 412: UpstreamRejected,
             413: ContextTooLong, 418: UpstreamRejected, 422: UpstreamRejected, 429: RateLimited,
             431: UpstreamRejected, 499: UpstreamError, 500: UpstreamError, 501: UpstreamError, 503: UpstreamError,
             504: UpstreamTimeout, 529: UpstreamError}
RETRIED_STATUSES = {409, 429, 500, 501, 503, 529}

NOT_STATUS = {
    anthropic: {"AnthropicError": UpstreamError, "APIError": UpstreamError, "APIResponseValidationError": UpstreamError,
                "APIWebhookValidationError": UpstreamError, "APIConnectionError": TierUnavailable,
                "APITimeoutError": UpstreamTimeout, "RetryableError": UpstreamError,
                "CredentialsError": AuthenticationFailed, "IdentityTokenFileError": AuthenticationFailed},
    openai: {"OpenAIError": UpstreamError, "APIError": UpstreamError, "APIResponseValidationError": UpstreamError,
             "APIConnectionError": TierUnavailable, "APITimeoutError": UpstreamTimeout,
             "LengthFinishReasonError": UpstreamError, "ContentFilterFinishReasonError": UpstreamRejected,
             "InvalidWebhookSignatureError": UpstreamError, "WebSocketConnectionClosedError": TierUnavailable,
             "WebSocketQueueFullError": UpstreamError, "SubjectTokenProviderError": UpstreamError},
}
TRANSLATE = {anthropic: translate_anthropic_error, openai: translate_openai_error}


def _response(status: int, error_code: str | None = None) -> tuple[httpx2.Response, dict]:
    body = {"type": "error", "error": {"type": "x", "message": "boom", **(
        {"details": {"error_code": error_code}} if error_code else {})}}
    request = httpx2.Request("POST", "https://upstream.example/v1/messages")
    return httpx2.Response(status, request=request, headers={"retry-after": "3"}, content=json.dumps(body)), body


def _build(cls: type) -> BaseException:
    """An instance of an SDK exception class, whatever its constructor wants."""
    response, body = _response(getattr(cls, "status_code", 418) if isinstance(getattr(cls, "status_code", None),
                                                                                 int) else 418)
    values = {"message": "boom", "request": response.request, "response": response, "body": body,
              "completion": ChatCompletion.model_construct(usage=None), "unsent_messages": [], "path": None}
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        params = {}
    named = [p for p in params.values() if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not named:
        return cls("boom")
    return cls(**{p.name: values[p.name] for p in named if p.name in values})


def _classes(sdk) -> dict[str, type]:
    module = sdk._exceptions
    return {name: obj for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, BaseException) and not name.startswith("_")}


def _status_classes(sdk) -> list[tuple[int, type, BaseException]]:
    """(status, class, instance) for every status error the SDK builds from a response."""
    found = []
    if sdk is anthropic:
        for (status, code), cls in anthropic._error_classes.ERROR_CLASSES.items():
            response, body = _response(status, code)
            found.append((status, cls, anthropic._error_classes.make_status_error("boom", body=body,
                                                                                    response=response)))
    else:
        client = openai.OpenAI(api_key="unused")
        for status in BY_STATUS:
            response, body = _response(status)
            error = client._make_status_error("boom", body=body, response=response)
            found.append((status, type(error), error))
        client.close()
    return found


@pytest.mark.parametrize("sdk", [anthropic, openai], ids=["anthropic", "openai"])
def test_every_status_error_maps_by_its_status(sdk):
    statuses = _status_classes(sdk)
    assert len(statuses) >= 10
    for status, cls, error in statuses:
        assert type(error) is cls
        mapped = TRANSLATE[sdk](error, "p")
        assert type(mapped) is BY_STATUS[status], f"{cls.__name__} ({status})"
        assert is_retryable(mapped) == (status in RETRIED_STATUSES), f"{cls.__name__} ({status})"
        if status == 429:
            assert mapped.retry_after == 3.0


@pytest.mark.parametrize("sdk", [anthropic, openai], ids=["anthropic", "openai"])
def test_every_exception_class_the_sdk_defines_maps_to_one_of_ours(sdk):
    for name, cls in _classes(sdk).items():
        error = _build(cls)
        mapped = TRANSLATE[sdk](error, "p")
        if issubclass(cls, sdk.APIStatusError):  # mapped by the status of the response it carries
            status = error.status_code
            assert type(mapped) is BY_STATUS[status], f"{name} ({status})"
        else:
            assert name in NOT_STATUS[sdk], f"{sdk.__name__}.{name} is not in the table: decide what it means"
            assert type(mapped) is NOT_STATUS[sdk][name], name


def test_a_body_the_sdk_cannot_decode_is_an_upstream_error():
    for translate in TRANSLATE.values():
        assert type(translate(json.JSONDecodeError("Expecting value", "x", 0), "p")) is UpstreamError
