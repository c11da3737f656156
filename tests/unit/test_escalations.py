"""The escalation log records every escalation and answers queries by workspace, request and time."""

from datetime import UTC, datetime

from router.core.api import Escalation, RoutingDecision
from router.storage.escalations import EscalationLog


def test_every_escalation_is_recorded_and_queryable(db):
    now = [datetime(2026, 5, 1, 12, 0, tzinfo=UTC)]
    log = EscalationLog(db, clock=lambda: now[0])
    decision = RoutingDecision(request_id="req-1", tier=3, tier_name="frontier", escalations=[
        Escalation(from_tier=1, to_tier=2, reason="complexity 0.62 above 0.35"),
        Escalation(from_tier=2, to_tier=3, reason="self-assessed quality 0.4 below 0.7"),
    ])
    log.record_decision("ws-a", decision)
    now[0] = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)
    log.record("ws-b", "req-2", 3, 2, "frontier daily cap reached; fell back to tier 2")
    log.record_decision("ws-a", RoutingDecision(request_id="req-3", tier=1, tier_name="micro"))  # nothing to log

    mine = log.query(workspace_id="ws-a")
    assert [(e.from_tier, e.to_tier) for e in mine] == [(2, 3), (1, 2)]
    assert mine[0].request_id == "req-1" and mine[0].at == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert [e.workspace_id for e in log.query(since=datetime(2026, 5, 2, tzinfo=UTC))] == ["ws-b"]
    assert len(log.query(until=datetime(2026, 5, 2, tzinfo=UTC))) == 2
    assert log.query(request_id="req-2")[0].reason.startswith("frontier daily cap")
    assert len(log.query(limit=1)) == 1


async def test_async_record_and_query(db):
    log = EscalationLog(db)
    await log.arecord("ws", "req", 1, None, "every tier failed")
    assert (await log.aquery(workspace_id="ws"))[0].to_tier is None
