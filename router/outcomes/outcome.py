"""The record of one finished request: where it was answered, what it cost, how long it took, how it ended."""

import asyncio
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from router.core.api import Escalation, RoutingDecision
from router.core.errors import RouterError
from router.core.generation import Usage

Status = Literal["answered", "refused", "failed", "cancelled"]
Channel = Literal["http", "handle"]
Operation = Literal["chat", "route"]


class RequestOutcome(BaseModel):
    request_id: str
    workspace_id: str | None = Field(description="None: it ended before the workspace was known")
    channel: Channel
    operation: Operation
    streamed: bool = False
    status: Status
    decision: RoutingDecision | None = None
    tier: int | None = Field(default=None, description="the tier that answered (a stream cut short: was answering)")
    tier_path: list[int] = Field(default_factory=list, description="every tier tried, in order")
    provider: str | None = None
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: Decimal | None = None
    latency_s: float
    error_code: str | None = None
    http_status: int = 200
    error_message: str | None = None
    escalations: list[Escalation] = Field(default_factory=list, description="the chain, answered or not")


def tier_path(escalations: list[Escalation], answered_at: int | None) -> list[int]:
    path: list[int] = []
    for step in escalations:
        if step.from_tier not in path:
            path.append(step.from_tier)
    if answered_at is not None and answered_at not in path:
        path.append(answered_at)
    return path


def error_status(error: BaseException) -> tuple[Status, str, int]:
    """(status, error code, HTTP status) for a request that ended in ``error``."""
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return "cancelled", "cancelled", 499  # the caller went away: nginx's "client closed request"
    if isinstance(error, RouterError):
        return ("refused" if error.status_code < 500 else "failed"), error.code, error.status_code
    return "failed", "internal_error", 500
