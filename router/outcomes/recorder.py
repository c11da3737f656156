"""Where outcomes go: one recorder per ingress replica hands each outcome to every sink, in order.

A sink that fails is logged and skipped: recording must never fail or slow the request it records beyond
its own write. The escalation log is the first sink; telemetry and metrics are added beside it.
"""

import logging
from collections.abc import Sequence
from typing import Protocol

from router.outcomes.outcome import RequestOutcome
from router.storage.escalations import EscalationLog

log = logging.getLogger(__name__)


class OutcomeSink(Protocol):
    async def record(self, outcome: RequestOutcome) -> None: ...


class OutcomeRecorder:
    def __init__(self, sinks: Sequence[OutcomeSink]) -> None:
        self.sinks = list(sinks)

    async def record(self, outcome: RequestOutcome) -> None:
        for sink in self.sinks:
            try:
                await sink.record(outcome)
            except Exception:  # noqa: BLE001 - a record that cannot be written must not fail the request
                log.exception("could not record the outcome of request %s in %s", outcome.request_id,
                              type(sink).__name__)


class EscalationLogSink:
    """Every step between tiers a request took, answered or not; a failure with no chain as one step."""

    def __init__(self, escalations: EscalationLog) -> None:
        self.escalations = escalations

    async def record(self, outcome: RequestOutcome) -> None:
        if outcome.workspace_id is None or outcome.operation != "chat":
            return  # nothing to file it under, or only a routing question
        steps = [(e.from_tier, e.to_tier, e.reason) for e in outcome.escalations]
        if outcome.status in ("refused", "failed") and not steps:
            steps = [(0, None, f"failed: {outcome.error_code}: {outcome.error_message}")]
        if steps:
            await self.escalations.db.run(self.escalations.record_many, outcome.workspace_id,
                                          outcome.request_id, steps)

