"""``TuneReport``: what ``tiered-router tune`` says about a window of traffic, built from rows, feedback and the
router config they ran under. Pure: the CLI reads the database and renders the result."""

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from router.core.config import RouterConfig
from router.storage.telemetry import DecisionRecord, FeedbackRecord
from router.telemetry.stats import ProviderStats, compute_stats
from router.tuning.escalation import (
    OverEscalation,
    UnderEscalation,
    over_escalation,
    under_escalation,
)
from router.tuning.evidence import frontier_quality, label
from router.tuning.refit import Refit, refit
from router.tuning.thresholds import Suggestion, suggest

DEFAULT_TARGET = 0.10


class TuneReport(BaseModel):
    since: datetime
    until: datetime
    workspace_id: str | None = Field(description="None: every workspace")
    requests: int
    feedback_rows: int = Field(description="rows of the window with caller feedback")
    target_bad_rate: float = Field(description="the local bad-feedback rate the suggestions keep under")
    frontier_mean_feedback: float = Field(description="mean feedback of Tier 3 answers (1.0 when none)")
    frontier_feedback_rows: int
    over_escalation: OverEscalation
    under_escalation: UnderEscalation
    providers: list[ProviderStats]
    suggestions: list[Suggestion]
    refit: Refit

    def changes(self) -> dict[str, tuple[float, float]]:
        """Config key -> (current, suggested), for the suggestions that move a value."""
        return {s.key: (s.current, s.suggested) for s in self.suggestions
                if s.status == "suggested" and s.suggested != s.current}


def build_report(records: Sequence[DecisionRecord], feedback: Sequence[FeedbackRecord], config: RouterConfig, *,
                 since: datetime, until: datetime, workspace_id: str | None = None,
                 target: float = DEFAULT_TARGET) -> TuneReport:
    """``records`` newest first (as ``TelemetryStore.decisions`` returns them)."""
    labelled = label(records, feedback)
    mean, bad_share, rows = frontier_quality(labelled)
    stats = compute_stats(records, feedback, since=since, until=until, workspace_id=workspace_id)
    return TuneReport(
        since=since, until=until, workspace_id=workspace_id, requests=len(records), feedback_rows=len(labelled),
        target_bad_rate=target, frontier_mean_feedback=round(mean, 4), frontier_feedback_rows=rows,
        over_escalation=over_escalation(records, config), under_escalation=under_escalation(labelled),
        providers=stats.providers,
        suggestions=suggest(labelled, records, config, target=target, frontier_bad=bad_share),
        refit=refit(labelled, mean),
    )
