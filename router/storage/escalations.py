"""The escalation log: every time a request moved from one tier to another, and why."""

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select

from router.core.api import RoutingDecision
from router.storage.database import Clock, Database, in_window, utc_now
from router.storage.schema import escalations


class EscalationRecord(BaseModel):
    workspace_id: str
    request_id: str
    from_tier: int
    to_tier: int | None  # None: nowhere left to go
    reason: str
    at: datetime


class EscalationLog:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock

    def record(self, workspace_id: str, request_id: str, from_tier: int, to_tier: int | None, reason: str) -> None:
        self.record_many(workspace_id, request_id, [(from_tier, to_tier, reason)])

    def record_decision(self, workspace_id: str, decision: RoutingDecision) -> None:
        """Every escalation a finished request's decision lists, in one transaction."""
        self.record_many(workspace_id, decision.request_id,
                         [(e.from_tier, e.to_tier, e.reason) for e in decision.escalations])

    def record_many(self, workspace_id: str, request_id: str, steps: list[tuple[int, int | None, str]]) -> None:
        if not steps:
            return
        at = self._clock().timestamp()
        with self.db.write() as conn:
            conn.execute(escalations.insert(), [
                {"workspace_id": workspace_id, "request_id": request_id, "from_tier": f, "to_tier": t,
                 "reason": reason[:2000], "at": at}
                for f, t, reason in steps
            ])

    def query(self, *, workspace_id: str | None = None, request_id: str | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 100) -> list[EscalationRecord]:
        """Newest first."""
        stmt = select(escalations).order_by(escalations.c.at.desc(), escalations.c.id.desc()).limit(limit)
        if workspace_id is not None:
            stmt = stmt.where(escalations.c.workspace_id == workspace_id)
        if request_id is not None:
            stmt = stmt.where(escalations.c.request_id == request_id)
        stmt = in_window(stmt, escalations.c.at, since, until)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return [EscalationRecord(workspace_id=r.workspace_id, request_id=r.request_id, from_tier=r.from_tier,
                                 to_tier=r.to_tier, reason=r.reason, at=datetime.fromtimestamp(r.at, UTC))
                for r in rows]

    async def arecord_decision(self, workspace_id: str, decision: RoutingDecision) -> None:
        await self.db.run(self.record_decision, workspace_id, decision)

    async def arecord(self, workspace_id: str, request_id: str, from_tier: int, to_tier: int | None,
                      reason: str) -> None:
        await self.db.run(self.record, workspace_id, request_id, from_tier, to_tier, reason)

    async def aquery(self, *, workspace_id: str | None = None, request_id: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int = 100) -> list[EscalationRecord]:
        return await self.db.run(self.query, workspace_id=workspace_id, request_id=request_id, since=since,
                                 until=until, limit=limit)
