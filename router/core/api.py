"""The OpenAI-compatible request and response shapes the router speaks, and the routing decision."""

import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.core.generation import Message, Usage


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    # Clients send fields we do not use (name, tool_call_id, ...): accept and ignore them.
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class EscalationSignals(BaseModel):
    """What a calling agent knows that raises the need for a stronger tier."""

    model_config = ConfigDict(extra="forbid")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, description="the caller's own confidence")
    missing_citations: bool = False
    contradiction_ambiguity: float = Field(default=0.0, ge=0.0, le=1.0)
    synthesis_complexity: float = Field(default=0.0, ge=0.0, le=1.0)


class RouterHints(BaseModel):
    """Caller hints in the request body's ``router`` field (or ``x-router-*`` headers)."""

    model_config = ConfigDict(extra="forbid")
    min_tier: int | None = Field(default=None, ge=1, le=3)
    max_tier: int | None = Field(default=None, ge=1, le=3)
    preferred_tier: int | None = Field(default=None, ge=1, le=3)
    agent_id: str | None = Field(default=None, min_length=1, max_length=128)
    precision: Literal["normal", "high"] = "normal"
    signals: EscalationSignals = Field(default_factory=EscalationSignals)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


MAX_TOKENS_LIMIT = 2**31 - 1


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = "router"
    messages: list[ChatMessage] = Field(min_length=1)
    # An int32's range: what serving engines accept, so a larger value is a client bug, not a request.
    max_tokens: int | None = Field(default=None, gt=0, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(default=None, gt=0, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    user: str | None = None
    router: RouterHints | None = None

    @field_validator("messages")
    @classmethod
    def _has_user_text(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" and m.text().strip() for m in messages):
            raise ValueError("at least one user message with non-empty content is required")
        return messages

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""

    def plain_messages(self) -> list[Message]:
        return [Message(role=m.role, content=m.text()) for m in self.messages]

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


# Why a request moved on, as a small closed set (the reason's words vary; metrics and tuning group by kind).
EscalationKind = Literal[
    "unavailable",  # the tier could not take the request (not loaded, unhealthy)
    "error",  # the tier failed or timed out while answering
    "disagreement",  # the second local opinion disagreed: the escalation score reached the threshold
    "self_assessment",  # Tier 2 graded its own answer too low
    "precheck",  # Tier 2 was skipped before answering (prompt too long, reasoning too deep)
    "invalid_classification",  # the micro model's classification could not be read
    "refused",  # over a budget or the daily cap: a lower tier may still answer
    "fallback",  # back down to a lower tier after the frontier refused
]


class Escalation(BaseModel):
    from_tier: int
    to_tier: int | None
    reason: str
    kind: EscalationKind = "error"


class RoutingDecision(BaseModel):
    """Why a request was answered where it was; returned by /v1/route and in every response."""

    request_id: str
    tier: int
    tier_name: str
    routing_score: float | None = Field(default=None, description="0-1, higher needs a stronger tier")
    classifier: str | None = Field(default=None, description="what classified the request: learned or micro")
    classification: dict[str, Any] | None = None
    provider: str | None = None
    model: str | None = None
    cost_usd: str | None = Field(default=None, description="what the answer cost in USD, where it was metered")
    command: str | None = None
    reasons: list[str] = Field(default_factory=list)
    escalations: list[Escalation] = Field(default_factory=list)
    escalation_score: float | None = Field(
        default=None, description="0-1 after a second local opinion: how likely the answer needed a stronger tier")
    cascade: dict[str, Any] | None = Field(
        default=None, description="the second-opinion check: form, extracted answers, agreement, score, threshold")
    agent_id: str | None = Field(default=None, description="the calling agent, from the router hints")
    requested_tier: int | None = Field(
        default=None, description="the tier the caller asked for (preferred, else minimum), if any")
    self_assessed_quality: float | None = Field(default=None, description="Tier 2's grade of its own answer, 0-1")
    tier_latency_ms: dict[int, float] = Field(
        default_factory=dict, description="time spent at each tier tried (to the first delta when streamed)")


class FeedbackRequest(BaseModel):
    """``POST /v1/feedback``: what the caller thought of one of its answers."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=200, description="the id of the answer (its `id` field)")
    score: float | None = Field(default=None, ge=0.0, le=1.0, description="0 (useless) to 1 (right)")
    outcome: Literal["good", "bad"] | None = Field(default=None, description="or just good (1) / bad (0)")
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_verdict(self) -> "FeedbackRequest":
        if (self.score is None) == (self.outcome is None):
            raise ValueError("give exactly one of score (0-1) or outcome (good or bad)")
        return self

    def value(self) -> float:
        if self.score is not None:
            return self.score
        return 1.0 if self.outcome == "good" else 0.0


REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_CHARS = 128


def new_request_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def header_value(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header by case-insensitive name, from HTTP headers or a handle caller's plain dict."""
    if not headers:
        return None
    if isinstance(headers, dict):
        return next((v for k, v in headers.items() if k.lower() == name), None)
    return headers.get(name)


def request_id_problem(headers: Mapping[str, str] | None) -> str | None:
    """Why the caller's ``x-request-id`` cannot be used as the request's id, or None when it can (or is absent).

    Over HTTP an unusable id is refused rather than replaced: Serve's proxy echoes the caller's header on
    the response whatever the router answers, so a replacement would give the request two ids."""
    supplied = header_value(headers, REQUEST_ID_HEADER)
    if supplied is None:
        return None
    if not supplied:
        return "the x-request-id header is empty"
    if len(supplied) > MAX_REQUEST_ID_CHARS:
        return f"the x-request-id header is {len(supplied)} characters; the limit is {MAX_REQUEST_ID_CHARS}"
    if not (supplied.isascii() and supplied.isprintable()):
        return "the x-request-id header must be printable ASCII characters"
    return None


def request_id_for(headers: Mapping[str, str] | None, fallback: str | None = None) -> str:
    """The caller's ``x-request-id`` when it is a sane id, else a new one.

    Serve's proxy puts an ``x-request-id`` on every HTTP request (the client's own, or one it makes)
    and echoes it on the response; answering with the same id keeps one id per request in the
    response body, the response header, the logs and the ledger."""
    for supplied in (header_value(headers, REQUEST_ID_HEADER), fallback):
        if supplied and len(supplied) <= MAX_REQUEST_ID_CHARS and supplied.isascii() and supplied.isprintable():
            return supplied
    return new_request_id()


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
    }


def completion_body(
    decision: RoutingDecision, *, text: str, usage: Usage, finish_reason: str, model: str
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object with the routing decision under ``router``."""
    return {
        "id": decision.request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_body(usage),
        "router": decision.model_dump(mode="json"),
    }


def chunk_body(
    request_id: str,
    model: str,
    *,
    content: str | None = None,
    role: str | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    router: RoutingDecision | None = None,
) -> dict[str, Any]:
    """An OpenAI ``chat.completion.chunk`` object."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    if router is not None:
        body["router"] = router.model_dump(mode="json")
    return body
