"""Routing telemetry and feedback: one row per request that reached the router, and what callers said of it.

Rows are written in batches by ``router.telemetry.writer`` (never on the request's hot path) and read by the
stats API, the dashboard and ``tiered-router tune``.
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from router.core.errors import NotFound
from router.storage.database import (
    Clock,
    Database,
    from_nusd,
    in_window,
    to_nusd,
    utc_now,
)
from router.storage.schema import feedback, routing_decisions

MAX_REASON_CHARS = 2000


def new_decision_id() -> str:
    return uuid.uuid4().hex


class DecisionRecord(BaseModel):
    """A ``routing_decisions`` row."""

    id: str = Field(default_factory=new_decision_id)
    request_id: str
    workspace_id: str | None = None
    agent_id: str | None = None
    channel: str
    operation: str
    streamed: bool = False
    requested_tier: int | None = None
    tier: int | None = None
    tier_path: list[int] = Field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    command: str | None = None
    classifier: str | None = None
    escalation_kinds: list[str] = Field(default_factory=list)
    escalation_reasons: list[str] = Field(default_factory=list)
    confidence: float | None = None
    complexity: float | None = None
    routing_score: float | None = None
    escalation_score: float | None = None
    self_quality: float | None = None
    agreement: float | None = None
    latency_ms: float
    tier_ms: dict[int, float] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal | None = None
    status: str
    error_code: str | None = None
    http_status: int = 200
    at: datetime


class FeedbackRecord(BaseModel):
    workspace_id: str
    request_id: str
    score: float = Field(ge=0.0, le=1.0)
    comment: str | None = None
    at: datetime


def _to_row(record: DecisionRecord) -> dict[str, object]:
    values = record.model_dump(exclude={"tier_path", "escalation_kinds", "escalation_reasons", "tier_ms",
                                        "cost_usd", "at", "streamed"})
    values.update(
        streamed=int(record.streamed),
        tier_path=",".join(str(t) for t in record.tier_path),
        escalation_kinds=",".join(record.escalation_kinds)[:400],
        escalation_reasons=json.dumps([r[:MAX_REASON_CHARS] for r in record.escalation_reasons]),
        tier1_ms=record.tier_ms.get(1), tier2_ms=record.tier_ms.get(2), tier3_ms=record.tier_ms.get(3),
        cost_nusd=None if record.cost_usd is None else to_nusd(record.cost_usd),
        at=record.at.timestamp(),
    )
    return values


def _from_row(row: object) -> DecisionRecord:
    m = row._mapping  # type: ignore[attr-defined]
    tier_ms = {n: m[f"tier{n}_ms"] for n in (1, 2, 3) if m[f"tier{n}_ms"] is not None}
    return DecisionRecord(
        **{k: m[k] for k in m.keys() if k not in {"tier_path", "escalation_kinds", "escalation_reasons", "tier1_ms",
                                                   "tier2_ms", "tier3_ms", "cost_nusd", "at", "streamed"}},
        streamed=bool(m["streamed"]),
        tier_path=[int(t) for t in m["tier_path"].split(",") if t],
        escalation_kinds=[k for k in m["escalation_kinds"].split(",") if k],
        escalation_reasons=json.loads(m["escalation_reasons"]),
        tier_ms=tier_ms,
        cost_usd=None if m["cost_nusd"] is None else from_nusd(m["cost_nusd"]),
        at=datetime.fromtimestamp(m["at"], UTC),
    )


class TelemetryStore:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock

    def insert_many(self, records: Sequence[DecisionRecord]) -> None:
        if not records:
            return
        with self.db.write() as conn:
            conn.execute(routing_decisions.insert(), [_to_row(r) for r in records])

    def decisions(self, *, workspace_id: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int | None = None) -> list[DecisionRecord]:
        """Newest first."""
        t = routing_decisions
        stmt = select(t).order_by(t.c.at.desc(), t.c.id)
        if workspace_id is not None:
            stmt = stmt.where(t.c.workspace_id == workspace_id)
        stmt = in_window(stmt, t.c.at, since, until)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.db.read() as conn:
            return [_from_row(r) for r in conn.execute(stmt)]

    def find(self, workspace_id: str, request_id: str) -> DecisionRecord | None:
        """The newest row of ``request_id`` made by ``workspace_id``."""
        t = routing_decisions
        stmt = (select(t).where(t.c.workspace_id == workspace_id, t.c.request_id == request_id)
                .order_by(t.c.at.desc()).limit(1))
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _from_row(row)

    def put_feedback(self, workspace_id: str, request_id: str, score: float, comment: str | None = None) -> FeedbackRecord:
        """Feedback on one of the workspace's own requests; another workspace's request is not found."""
        t = routing_decisions
        at = self._clock()
        with self.db.write() as conn:
            known = conn.scalar(select(t.c.id).where(t.c.workspace_id == workspace_id,
                                                     t.c.request_id == request_id).limit(1))
            if known is None:
                raise NotFound(f"no request {request_id!r} in this workspace", code="request_not_found",
                               param="request_id")
            conn.execute(delete(feedback).where(feedback.c.workspace_id == workspace_id,
                                                feedback.c.request_id == request_id))
            conn.execute(feedback.insert().values(workspace_id=workspace_id, request_id=request_id, score=score,
                                                  comment=comment, at=at.timestamp()))
        return FeedbackRecord(workspace_id=workspace_id, request_id=request_id, score=score, comment=comment, at=at)

    def feedback(self, *, workspace_id: str | None = None, since: datetime | None = None) -> list[FeedbackRecord]:
        stmt = select(feedback).order_by(feedback.c.at)
        if workspace_id is not None:
            stmt = stmt.where(feedback.c.workspace_id == workspace_id)
        stmt = in_window(stmt, feedback.c.at, since, None)
        with self.db.read() as conn:
            return [FeedbackRecord(workspace_id=r.workspace_id, request_id=r.request_id, score=r.score,
                                   comment=r.comment, at=datetime.fromtimestamp(r.at, UTC))
                    for r in conn.execute(stmt)]
