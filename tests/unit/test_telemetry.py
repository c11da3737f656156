"""Routing telemetry: the row a request leaves, the batched writer that never blocks or loses one silently,
the store on SQLite and PostgreSQL, and the stats read back from it."""

import asyncio
import inspect
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ray.serve import metrics as serve_metrics

from router.core.api import Escalation, FeedbackRequest, RoutingDecision
from router.core.errors import InvalidRequest, NotFound
from router.core.generation import Usage
from router.core.telemetry_settings import TelemetryConfig
from router.outcomes.outcome import RequestOutcome
from router.storage.database import Database
from router.storage.telemetry import DecisionRecord, TelemetryStore
from router.telemetry.metrics import RouterMetrics
from router.telemetry.records import decision_record
from router.telemetry.stats import compute_stats, parse_time, percentile, window
from router.telemetry.structured_logs import OutcomeLogSink, RedactSecrets, redact
from router.telemetry.writer import TelemetryWriter
from tests.fakes.metrics import FakeCounter, FakeGauge, FakeHistogram, FakeMetricFactory

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def outcome(request_id: str = "r1", *, tier: int | None = 2, status: str = "answered", workspace: str | None = "w1",
            cost: str | None = None, escalations: list[Escalation] | None = None, **decision) -> RequestOutcome:
    made = RoutingDecision(request_id=request_id, tier=tier or 0, tier_name="light", **decision) \
        if tier is not None else None
    chain = escalations or []
    path = sorted({e.from_tier for e in chain} | ({tier} if tier is not None else set()))
    return RequestOutcome(
        request_id=request_id, workspace_id=workspace, channel="http", operation="chat", status=status,
        decision=made, tier=tier, tier_path=path, provider=None if tier is None else f"p{tier}",
        usage=Usage(prompt_tokens=10, completion_tokens=5, cached_prompt_tokens=2),
        cost_usd=None if cost is None else Decimal(cost), latency_s=0.25,
        error_code=None if status == "answered" else "routing_failure",
        http_status=200 if status == "answered" else 503, escalations=chain)


def record(request_id: str, *, tier: int | None, at: datetime, workspace: str = "w1", status: str = "answered",
           cost: str | None = None, latency_ms: float = 100.0, path: list[int] | None = None,
           kinds: list[str] | None = None, provider: str | None = None, tokens: tuple[int, int] = (100, 50),
           **fields) -> DecisionRecord:
    return DecisionRecord(
        request_id=request_id, workspace_id=workspace, channel="http", operation="chat", tier=tier,
        tier_path=path if path is not None else ([] if tier is None else [tier]), provider=provider,
        escalation_kinds=kinds or [], latency_ms=latency_ms, prompt_tokens=tokens[0], completion_tokens=tokens[1],
        cost_usd=None if cost is None else Decimal(cost), status=status, at=at, **fields)


# ---- the row ---------------------------------------------------------------------------------------------


def test_the_row_carries_the_decision_signals_usage_cost_and_outcome():
    chain = [Escalation(from_tier=2, to_tier=3, reason="tier 2: disagreed", kind="disagreement")]
    made = outcome("r9", tier=3, cost="0.0042", escalations=chain, agent_id="planner", requested_tier=2,
                   routing_score=0.41, escalation_score=0.77, self_assessed_quality=0.6,
                   classification={"confidence": 0.8, "complexity_score": 0.3},
                   cascade={"agreement": 0.25}, tier_latency_ms={2: 40.0, 3: 180.5})
    row = decision_record(made, NOW)
    assert (row.request_id, row.workspace_id, row.agent_id, row.requested_tier) == ("r9", "w1", "planner", 2)
    assert (row.tier, row.tier_path, row.provider, row.status) == (3, [2, 3], "p3", "answered")
    assert (row.escalation_kinds, row.escalation_reasons) == (["disagreement"], ["tier 2: disagreed"])
    assert (row.confidence, row.complexity, row.routing_score, row.escalation_score, row.self_quality,
            row.agreement) == (0.8, 0.3, 0.41, 0.77, 0.6, 0.25)
    assert (row.latency_ms, row.tier_ms) == (250.0, {2: 40.0, 3: 180.5})
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens) == (10, 5, 2)
    assert row.cost_usd == Decimal("0.0042")


def test_a_failed_request_has_no_answering_tier_but_keeps_its_error():
    row = decision_record(outcome(tier=None, status="failed", workspace=None), NOW)
    assert (row.tier, row.status, row.error_code, row.http_status, row.workspace_id) == \
        (None, "failed", "routing_failure", 503, None)


def test_the_store_round_trips_a_row_exactly(db):
    store = TelemetryStore(db)
    made = decision_record(outcome("r1", tier=3, cost="0.000000123", escalations=[
        Escalation(from_tier=1, to_tier=3, reason="x" * 5000, kind="error")], tier_latency_ms={1: 1.5, 3: 9.0}), NOW)
    store.insert_many([made])
    (back,) = store.decisions()
    assert back.model_dump(exclude={"escalation_reasons"}) == made.model_dump(exclude={"escalation_reasons"})
    assert len(back.escalation_reasons[0]) == 2000  # a long reason is cut, not refused


def test_feedback_belongs_to_the_workspace_that_made_the_request(db):
    store = TelemetryStore(db)
    store.insert_many([record("mine", tier=1, at=NOW, workspace="w1")])
    store.put_feedback("w1", "mine", 0.0, "wrong")
    store.put_feedback("w1", "mine", 1.0)  # a later word replaces the earlier one
    with pytest.raises(NotFound):
        store.put_feedback("w2", "mine", 1.0)
    with pytest.raises(NotFound):
        store.put_feedback("w1", "never-made", 1.0)
    (kept,) = store.feedback()
    assert (kept.workspace_id, kept.request_id, kept.score, kept.comment) == ("w1", "mine", 1.0, None)


def test_the_store_on_postgresql(postgres_url):
    store = TelemetryStore(Database(postgres_url))
    store.insert_many([record(f"pg{i}", tier=i % 4, at=NOW + timedelta(seconds=i), cost="0.5") for i in range(5)])
    rows = store.decisions(since=NOW + timedelta(seconds=1))
    assert [r.request_id for r in rows] == ["pg4", "pg3", "pg2", "pg1"]
    assert rows[0].cost_usd == Decimal("0.5")
    store.put_feedback("w1", "pg2", 0.25)
    assert [(f.request_id, f.score) for f in store.feedback(workspace_id="w1")] == [("pg2", 0.25)]


@pytest.mark.parametrize("body, problem", [
    ({"request_id": "r", "score": 0.5, "outcome": "good"}, "exactly one"),
    ({"request_id": "r"}, "exactly one"),
    ({"request_id": "r", "score": 1.5}, "less than or equal to 1"),
    ({"request_id": "r", "outcome": "meh"}, "'good' or 'bad'"),
    ({"request_id": "r", "score": 1, "mood": "x"}, "Extra inputs"),
])
def test_feedback_bodies_that_cannot_be_honoured_are_refused(body, problem):
    with pytest.raises(ValueError, match=problem):
        FeedbackRequest.model_validate(body)


def test_good_and_bad_are_one_and_zero():
    assert FeedbackRequest(request_id="r", outcome="good").value() == 1.0
    assert FeedbackRequest(request_id="r", outcome="bad").value() == 0.0
    assert FeedbackRequest(request_id="r", score=0.3).value() == 0.3


# ---- the writer ------------------------------------------------------------------------------------------


class SlowStore(TelemetryStore):
    """Blocks every write until released, and can be made to fail: the database being slow or down."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.failing = False
        self.batches: list[int] = []

    def insert_many(self, records):  # type: ignore[no-untyped-def]
        if self.failing:
            raise OSError("database is down")
        self.batches.append(len(records))
        super().insert_many(records)


async def test_recording_never_waits_on_the_database_and_flush_writes_everything_in_batches(db):
    store = SlowStore(db)
    writer = TelemetryWriter(store, TelemetryConfig(batch_size=4, flush_interval_s=60))
    for i in range(10):
        await writer.record(outcome(f"r{i}"))
    assert writer.queued == 10 and store.decisions() == []  # nothing written on the request's path
    assert await writer.flush() == 10
    assert store.batches == [4, 4, 2]
    assert sorted(r.request_id for r in store.decisions()) == sorted(f"r{i}" for i in range(10))
    await writer.close()


async def test_a_full_batch_is_written_without_waiting_for_the_interval(db):
    store = SlowStore(db)
    writer = TelemetryWriter(store, TelemetryConfig(batch_size=3, flush_interval_s=60))
    for i in range(3):
        await writer.record(outcome(f"r{i}"))
    for _ in range(200):  # the background task wakes on a full batch; bounded wait for it
        if writer.written == 3:
            break
        await asyncio.sleep(0.01)
    assert writer.written == 3 and store.batches == [3]
    await writer.close()


async def test_a_failed_write_keeps_its_rows_for_the_next_attempt(db):
    store = SlowStore(db)
    writer = TelemetryWriter(store, TelemetryConfig(batch_size=10, flush_interval_s=60))
    for i in range(5):
        await writer.record(outcome(f"r{i}"))
    store.failing = True
    assert await writer.flush() == 0
    assert (writer.queued, writer.failed_writes) == (5, 1)
    store.failing = False
    await writer.close()
    assert len(store.decisions()) == 5 and writer.queued == 0


async def test_rows_past_the_queue_limit_are_dropped_counted_and_logged(db, caplog):
    dropped: list[int] = []
    writer = TelemetryWriter(TelemetryStore(db), TelemetryConfig(max_queue=3, flush_interval_s=60),
                             on_dropped=dropped.append)
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            await writer.record(outcome(f"r{i}"))
    assert (writer.queued, writer.dropped, sum(dropped)) == (3, 2, 2)
    assert "dropped the row of request r3" in caplog.text
    await writer.close()
    assert sorted(r.request_id for r in TelemetryStore(db).decisions()) == ["r0", "r1", "r2"]


# ---- metrics ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fake, real, methods", [
    (FakeCounter, serve_metrics.Counter, ("inc",)),
    (FakeGauge, serve_metrics.Gauge, ("set",)),
    (FakeHistogram, serve_metrics.Histogram, ("observe",)),
])
def test_the_fake_metrics_take_the_arguments_ray_serve_metrics_take(fake, real, methods):
    def params(fn):  # type: ignore[no-untyped-def]
        return list(inspect.signature(fn).parameters)

    assert params(fake.__init__) == params(real.__init__)
    for method in methods:
        assert params(getattr(fake, method)) == params(getattr(real, method))


def test_one_outcome_moves_every_series_it_concerns():
    factory = FakeMetricFactory()
    series = RouterMetrics(factory)
    chain = [Escalation(from_tier=2, to_tier=3, reason="r", kind="disagreement")]
    asyncio.run(series.record(outcome("r1", tier=3, cost="0.5", escalations=chain, tier_latency_ms={2: 30.0, 3: 90.0})))
    asyncio.run(series.record(outcome("r2", tier=None, status="failed", escalations=[
        Escalation(from_tier=3, to_tier=None, reason="over budget", kind="refused")])))
    made = factory.made
    assert dict(made["router_requests"].values) == {
        (("operation", "chat"), ("provider", "p3"), ("status", "answered"), ("tier", "3")): 1,
        (("operation", "chat"), ("provider", "none"), ("status", "failed"), ("tier", "none")): 1}
    assert dict(made["router_escalations"].values) == {
        (("from_tier", "2"), ("kind", "disagreement"), ("to_tier", "3")): 1,
        (("from_tier", "3"), ("kind", "refused"), ("to_tier", "none")): 1}
    assert dict(made["router_frontier_reached"].values) == {(("status", "answered"),): 1, (("status", "failed"),): 1}
    assert dict(made["router_tier_latency_ms"].values) == {(("tier", "2"),): [30.0], (("tier", "3"),): [90.0]}
    assert dict(made["router_cost_usd"].values) == {(("provider", "p3"), ("workspace", "w1")): 0.5}
    assert made["router_tokens"].values[(("kind", "completion"), ("tier", "3"))] == 5
    assert dict(made["router_budget_refusals"].values) == {(("workspace", "w1"),): 1}
    assert made["router_request_latency_ms"].values[(("status", "answered"), ("tier", "3"))] == [250.0]
    series.availability("cloud", False)
    assert made["router_provider_available"].values == {(("provider", "cloud"),): 0.0}
    series.dropped(2)
    assert made["router_telemetry_dropped"].values == {(): 2}


# ---- logs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["Bearer trk_abcdefghijklmnop", "trk_Zx9-_abcdefghij", "sk-proj-abcdefgh12345",
                                    "sk-ant-api03-abcdefghijkl", "api_key=supersecretvalue"])
def test_secrets_are_masked_in_any_log_message(secret, caplog):
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("calling upstream with %s now", secret)
    assert secret.split()[-1].split("=")[-1] not in caplog.text
    assert "[redacted]" in caplog.text
    assert redact("nothing secret here: tier 2") == "nothing secret here: tier 2"


async def test_the_outcome_line_names_the_request_not_its_text(caplog):
    logger = logging.getLogger("test.outcome")
    with caplog.at_level(logging.INFO, logger="test.outcome"):
        await OutcomeLogSink(logger).record(outcome("req-42", tier=2))
    (line,) = caplog.records
    assert "req-42" in line.getMessage() and "answered at tier 2" in line.getMessage()
    assert line.router_request_id == "req-42"  # type: ignore[attr-defined]


# ---- stats ------------------------------------------------------------------------------------------------


def test_time_windows_read_spans_and_iso_times_and_refuse_the_rest():
    assert parse_time("90m", now=NOW, name="since") == NOW - timedelta(minutes=90)
    assert parse_time("2026-12-01T00:00:00Z", now=NOW, name="since") == datetime(2026, 12, 1, tzinfo=UTC)
    assert window(None, None, now=NOW) == (NOW - timedelta(hours=24), NOW)
    with pytest.raises(InvalidRequest, match="neither an ISO 8601 time"):
        parse_time("yesterday", now=NOW, name="since")
    with pytest.raises(InvalidRequest, match="must be before until"):
        window("1h", "2h", now=NOW)


def test_percentiles_are_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)


def test_stats_count_tiers_escalations_frontier_share_cost_and_savings():
    rows = [
        record("a", tier=1, at=NOW - timedelta(minutes=50), latency_ms=10, provider="micro"),
        record("b", tier=2, at=NOW - timedelta(minutes=40), latency_ms=30, provider="light", self_quality=0.8),
        record("c", tier=3, at=NOW - timedelta(minutes=30), latency_ms=300, provider="cloud", cost="0.02",
               path=[2, 3], kinds=["disagreement"], tier_ms={2: 40.0, 3: 250.0}),
        record("d", tier=None, at=NOW - timedelta(minutes=5), status="failed", path=[3], kinds=["error"],
               provider="cloud", tokens=(0, 0)),
    ]
    from router.storage.telemetry import FeedbackRecord

    marks = [FeedbackRecord(workspace_id="w1", request_id="b", score=0.0, at=NOW),
             FeedbackRecord(workspace_id="w2", request_id="a", score=1.0, at=NOW)]  # another workspace's "a"

    stats = compute_stats(rows, marks, since=NOW - timedelta(hours=1), until=NOW, baseline_provider="cloud",
                          baseline_price=lambda p, c: Decimal(p + c) / 1000)
    assert stats.requests == 4 and stats.by_status == {"answered": 3, "failed": 1}
    assert [(t.tier, t.requests) for t in stats.tiers] == [("1", 1), ("2", 1), ("3", 1), ("none", 1)]
    tier_2 = stats.tiers[1]
    assert (tier_2.feedback_count, tier_2.feedback_mean, tier_2.self_quality_mean) == (1, 0.0, 0.8)
    assert stats.tiers[0].feedback_count == 0
    assert stats.tiers[2].tier_p50_ms == 250.0
    assert (stats.escalation_rate, stats.frontier_share) == (0.5, 0.5)
    assert stats.escalations_by_kind == {"disagreement": 1, "error": 1}
    assert [(p.provider, p.requests, p.failed, p.cost_usd) for p in stats.providers] == [
        ("cloud", 2, 1, "0.02"), ("light", 1, 0, "0"), ("micro", 1, 0, "0")]
    assert stats.cost_usd == "0.02"
    # baseline: three answered requests of 150 tokens each at 1 USD per 1000 tokens
    assert (stats.savings.baseline_cost_usd, stats.savings.saved_usd, stats.savings.saved_share) == \
        ("0.45", "0.43", pytest.approx(0.9556, abs=1e-4))
    assert sum(sum(b.by_tier.values()) for b in stats.timeline) == 4
    assert stats.timeline_bucket_s == 300
    assert [r.request_id for r in stats.recent] == ["d", "c", "b", "a"]


def test_stats_of_an_empty_window_are_zero_not_an_error():
    stats = compute_stats([], [], since=NOW - timedelta(hours=1), until=NOW)
    assert (stats.requests, stats.escalation_rate, stats.frontier_share, stats.tiers) == (0, 0.0, 0.0, [])
    assert stats.savings.baseline_cost_usd is None
