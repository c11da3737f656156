"""The figures behind ``GET /v1/routing/stats`` and the dashboard, from the routing_decisions rows of a window.

Savings are measured against one counterfactual: every answered request sent to the strongest configured
provider (highest quality) with the same tokens in and out. That provider's answer would differ in length, so
it is an estimate, labelled as such in the response.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, Field

from router.core.errors import InvalidRequest
from router.storage.telemetry import DecisionRecord, FeedbackRecord

DEFAULT_WINDOW = timedelta(hours=24)
RECENT_ROWS = 25
TIMELINE_BUCKETS = 30
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NICE_BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)

# (prompt tokens, completion tokens) -> USD at the strongest provider; None: no such provider.
BaselinePrice = Callable[[int, int], Decimal]


def parse_time(value: str | None, *, now: datetime, name: str) -> datetime | None:
    """An ISO 8601 time, or a span back from now: ``90s``, ``15m``, ``6h``, ``7d``, ``2w``."""
    if value is None or value == "":
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name}={value!r} is neither an ISO 8601 time nor a span such as 15m, 6h or 7d",
                             param=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window(since: str | None, until: str | None, *, now: datetime) -> tuple[datetime, datetime]:
    end = parse_time(until, now=now, name="until") or now
    start = parse_time(since, now=now, name="since") or end - DEFAULT_WINDOW
    if start >= end:
        raise InvalidRequest(f"since ({start.isoformat()}) must be before until ({end.isoformat()})", param="since")
    return start, end


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


class TierStats(BaseModel):
    tier: str = Field(description="0-3, or none: no tier answered")
    requests: int
    share: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    tier_p50_ms: float | None = Field(description="time spent at this tier itself (to the first delta if streamed)")
    cost_usd: str
    feedback_count: int
    feedback_mean: float | None = Field(description="mean caller feedback score, 0-1")
    self_quality_mean: float | None


class ProviderStats(BaseModel):
    provider: str
    requests: int
    answered: int
    failed: int
    cost_usd: str
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class Savings(BaseModel):
    baseline_provider: str | None
    baseline_cost_usd: str | None = Field(description="estimate: every answered request at the baseline provider")
    actual_cost_usd: str
    saved_usd: str | None
    saved_share: float | None


class TimelineBucket(BaseModel):
    start: datetime
    by_tier: dict[str, int]


class RecentDecision(BaseModel):
    request_id: str
    at: datetime
    workspace_id: str | None
    tier: int | None
    tier_path: list[int]
    provider: str | None
    status: str
    error_code: str | None
    escalations: list[str]
    escalation_score: float | None
    latency_ms: float
    cost_usd: str | None


class RoutingStats(BaseModel):
    since: datetime
    until: datetime
    workspace_id: str | None
    requests: int
    by_status: dict[str, int]
    tiers: list[TierStats]
    escalation_rate: float = Field(description="share of requests that moved between tiers at least once")
    escalations_by_kind: dict[str, int]
    frontier_share: float = Field(description="share of requests that tried Tier 3")
    cost_usd: str
    providers: list[ProviderStats]
    savings: Savings
    feedback_count: int
    timeline_bucket_s: int
    timeline: list[TimelineBucket]
    recent: list[RecentDecision]


def _tier_key(record: DecisionRecord) -> str:
    return "none" if record.tier is None else str(record.tier)


def _money(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def _bucket_seconds(span_s: float) -> int:
    wanted = span_s / TIMELINE_BUCKETS
    return next((b for b in _NICE_BUCKETS_S if b >= wanted), _NICE_BUCKETS_S[-1])


def compute_stats(records: Sequence[DecisionRecord], feedback: Sequence[FeedbackRecord], *, since: datetime,
                  until: datetime, workspace_id: str | None = None, baseline_provider: str | None = None,
                  baseline_price: BaselinePrice | None = None) -> RoutingStats:
    total = len(records)
    scores = {(f.workspace_id, f.request_id): f.score for f in feedback}
    by_tier: dict[str, list[DecisionRecord]] = {}
    for record in records:
        by_tier.setdefault(_tier_key(record), []).append(record)

    tiers = []
    for key in sorted(by_tier, key=lambda k: (k == "none", k)):
        rows = by_tier[key]
        marks = [scores[(r.workspace_id, r.request_id)] for r in rows if (r.workspace_id, r.request_id) in scores]
        latencies = [r.latency_ms for r in rows]
        own = [r.tier_ms[r.tier] for r in rows if r.tier is not None and r.tier in r.tier_ms]
        tiers.append(TierStats(
            tier=key, requests=len(rows), share=round(len(rows) / total, 4),
            latency_p50_ms=_round(percentile(latencies, 50)), latency_p95_ms=_round(percentile(latencies, 95)),
            tier_p50_ms=_round(percentile(own, 50)),
            cost_usd=_money(sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0))),
            feedback_count=len(marks), feedback_mean=_round(_mean(marks), 4),
            self_quality_mean=_round(_mean([r.self_quality for r in rows if r.self_quality is not None]), 4),
        ))

    by_provider: dict[str, list[DecisionRecord]] = {}
    for record in records:
        if record.provider:
            by_provider.setdefault(record.provider, []).append(record)
    providers = [ProviderStats(
        provider=name, requests=len(rows), answered=sum(r.status == "answered" for r in rows),
        failed=sum(r.status == "failed" for r in rows),
        cost_usd=_money(sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0))),
        latency_p50_ms=_round(percentile([r.latency_ms for r in rows], 50)),
        latency_p95_ms=_round(percentile([r.latency_ms for r in rows], 95)),
    ) for name, rows in sorted(by_provider.items())]

    actual = sum((r.cost_usd or Decimal(0) for r in records), Decimal(0))
    savings = Savings(baseline_provider=baseline_provider, baseline_cost_usd=None, actual_cost_usd=_money(actual),
                      saved_usd=None, saved_share=None)
    if baseline_price is not None:
        baseline = sum((baseline_price(r.prompt_tokens, r.completion_tokens) for r in records
                        if r.status == "answered" and r.operation == "chat"), Decimal(0))
        savings.baseline_cost_usd = _money(baseline)
        savings.saved_usd = _money(baseline - actual)
        savings.saved_share = round(float((baseline - actual) / baseline), 4) if baseline else None

    step = _bucket_seconds((until - since).total_seconds())
    origin = math.floor(since.timestamp() / step) * step
    buckets: dict[int, Counter[str]] = {}
    for record in records:
        index = int((record.at.timestamp() - origin) // step)
        buckets.setdefault(index, Counter())[_tier_key(record)] += 1
    timeline = [TimelineBucket(start=datetime.fromtimestamp(origin + i * step, UTC),
                               by_tier=dict(sorted(buckets.get(i, {}).items())))
                for i in range(int((until.timestamp() - origin) // step) + 1)]

    kinds: Counter[str] = Counter(kind for r in records for kind in r.escalation_kinds)
    recent = [RecentDecision(
        request_id=r.request_id, at=r.at, workspace_id=r.workspace_id, tier=r.tier, tier_path=r.tier_path,
        provider=r.provider, status=r.status, error_code=r.error_code, escalations=r.escalation_kinds,
        escalation_score=r.escalation_score, latency_ms=r.latency_ms,
        cost_usd=None if r.cost_usd is None else _money(r.cost_usd),
    ) for r in sorted(records, key=lambda r: r.at, reverse=True)[:RECENT_ROWS]]

    return RoutingStats(
        since=since, until=until, workspace_id=workspace_id, requests=total,
        by_status=dict(Counter(r.status for r in records)), tiers=tiers,
        escalation_rate=round(sum(bool(r.escalation_kinds) for r in records) / total, 4) if total else 0.0,
        escalations_by_kind=dict(kinds),
        frontier_share=round(sum(3 in r.tier_path for r in records) / total, 4) if total else 0.0,
        cost_usd=_money(actual), providers=providers, savings=savings,
        feedback_count=sum((r.workspace_id, r.request_id) in scores for r in records),
        timeline_bucket_s=step, timeline=timeline, recent=recent,
    )
