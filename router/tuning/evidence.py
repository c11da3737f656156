"""The telemetry rows joined with the callers' feedback, and the few questions every analysis asks of them."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from router.storage.telemetry import DecisionRecord, FeedbackRecord

BAD_BELOW = 0.5  # a feedback score under this is a bad answer
FRONTIER = 3


@dataclass(frozen=True)
class Labelled:
    """A decision row and the feedback score the caller gave it."""

    record: DecisionRecord
    score: float

    @property
    def bad(self) -> bool:
        return self.score < BAD_BELOW


def answered_low(record: DecisionRecord) -> bool:
    """Answered by a local tier (0-2): the answer the feedback grades came from below the frontier."""
    return record.status == "answered" and record.tier is not None and record.tier < FRONTIER


def answered_frontier(record: DecisionRecord) -> bool:
    return record.status == "answered" and record.tier == FRONTIER


def reached_frontier(record: DecisionRecord) -> bool:
    """Sent to Tier 3, whether or not it answered there (the money was at stake either way)."""
    return FRONTIER in record.tier_path


def label(records: Sequence[DecisionRecord], feedback: Sequence[FeedbackRecord]) -> list[Labelled]:
    """Each feedback joined to the newest row of its (workspace, request): the row ``put_feedback`` checked.

    ``records`` must be newest first, as ``TelemetryStore.decisions`` returns them.
    """
    scores = {(f.workspace_id, f.request_id): f.score for f in feedback}
    seen: set[tuple[str | None, str]] = set()
    joined: list[Labelled] = []
    for record in records:
        key = (record.workspace_id, record.request_id)
        if key in seen:
            continue
        seen.add(key)
        score = scores.get(key)  # type: ignore[arg-type]
        if score is not None:
            joined.append(Labelled(record, score))
    return joined


def frontier_quality(labelled: Sequence[Labelled]) -> tuple[float, float, int]:
    """(mean feedback score, bad share, rows) of Tier 3 answers; with none, (1.0, 0.0, 0): the frontier is
    taken to answer well, the most favourable assumption for escalating."""
    scores = [item.score for item in labelled if answered_frontier(item.record)]
    if not scores:
        return 1.0, 0.0, 0
    return sum(scores) / len(scores), sum(s < BAD_BELOW for s in scores) / len(scores), len(scores)


def usd(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def total_cost(records: Sequence[DecisionRecord]) -> Decimal:
    return sum((r.cost_usd or Decimal(0) for r in records), Decimal(0))
