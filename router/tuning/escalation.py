"""Over-escalation (paid Tier 3 where the evidence said a local tier would do) and under-escalation (a local
answer the caller called bad)."""

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from router.core.config import RouterConfig
from router.storage.telemetry import DecisionRecord
from router.tuning.evidence import (
    Labelled,
    answered_low,
    reached_frontier,
    total_cost,
    usd,
)

EXAMPLES = 5
MARGIN = 0.10  # an escalation score within this of the threshold was a close call
AGREED = 0.99  # the local answers agreed: the comparison gave no reason to escalate
# The local tier could not answer at all: Tier 3 was needed whatever the scores said.
_FORCED = {"error", "unavailable"}

REASONS = {
    "close_call": "escalated on disagreement with a score just over the threshold and a high self-assessment",
    "confident_start": "started at Tier 3 although the classifier was confident and the prompt simple",
    "agreed": "escalated although the local answers agreed",
}


class OverEscalation(BaseModel):
    count: int = Field(description="Tier 3 requests with at least one reason below (each counted once)")
    frontier_requests: int
    share: float = Field(description="count / frontier_requests")
    cost_usd: str = Field(description="what those requests cost")
    by_reason: dict[str, int]
    examples: list[str] = Field(description="request ids")


class UnderEscalation(BaseModel):
    count: int = Field(description="bad feedback (score < 0.5) on answers from tiers 0-2")
    low_tier_feedback: int
    share: float = Field(description="count / low_tier_feedback")
    by_tier: dict[str, int]
    examples: list[str]


def over_reasons(record: DecisionRecord, config: RouterConfig) -> list[str]:
    """Why this Tier 3 request looks over-escalated; empty when it does not."""
    if not reached_frontier(record):
        return []
    kinds = set(record.escalation_kinds)
    judged = not kinds & _FORCED
    t = config.thresholds
    reasons = []
    score, quality = record.escalation_score, record.self_quality
    if (judged and "disagreement" in kinds and score is not None and quality is not None
            and score < config.cascade.threshold + MARGIN and quality >= t.quality):
        reasons.append("close_call")
    started_high = bool(record.tier_path) and record.tier_path[0] == 3 and record.requested_tier != 3
    if (started_high and record.confidence is not None and record.complexity is not None
            and record.confidence >= t.confidence and record.complexity <= t.complexity):
        reasons.append("confident_start")
    if judged and kinds and record.agreement is not None and record.agreement >= AGREED:
        reasons.append("agreed")
    return reasons


def over_escalation(records: Sequence[DecisionRecord], config: RouterConfig) -> OverEscalation:
    frontier = [r for r in records if reached_frontier(r)]
    flagged: list[DecisionRecord] = []
    by_reason: Counter[str] = Counter()
    for record in frontier:
        reasons = over_reasons(record, config)
        if reasons:
            flagged.append(record)
            by_reason.update(reasons)
    return OverEscalation(
        count=len(flagged), frontier_requests=len(frontier),
        share=round(len(flagged) / len(frontier), 4) if frontier else 0.0,
        cost_usd=usd(total_cost(flagged)), by_reason={k: by_reason[k] for k in REASONS if by_reason[k]},
        examples=[r.request_id for r in flagged[:EXAMPLES]],
    )


def under_escalation(labelled: Sequence[Labelled]) -> UnderEscalation:
    low = [item for item in labelled if answered_low(item.record)]
    bad = [item for item in low if item.bad]
    by_tier = Counter(str(item.record.tier) for item in bad)
    return UnderEscalation(
        count=len(bad), low_tier_feedback=len(low), share=round(len(bad) / len(low), 4) if low else 0.0,
        by_tier=dict(sorted(by_tier.items())), examples=[item.record.request_id for item in bad[:EXAMPLES]],
    )
