"""A finished request's ``RequestOutcome`` as one ``routing_decisions`` row."""

from datetime import datetime

from router.outcomes.outcome import RequestOutcome
from router.storage.telemetry import DecisionRecord


def _number(mapping: dict[str, object] | None, key: str) -> float | None:
    value = (mapping or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def decision_record(outcome: RequestOutcome, at: datetime) -> DecisionRecord:
    decision = outcome.decision
    usage = outcome.usage
    return DecisionRecord(
        request_id=outcome.request_id,
        workspace_id=outcome.workspace_id,
        agent_id=None if decision is None else decision.agent_id,
        channel=outcome.channel,
        operation=outcome.operation,
        streamed=outcome.streamed,
        requested_tier=None if decision is None else decision.requested_tier,
        tier=outcome.tier if outcome.status == "answered" or outcome.operation == "route" else None,
        tier_path=outcome.tier_path,
        provider=outcome.provider,
        model=outcome.model,
        command=None if decision is None else decision.command,
        classifier=None if decision is None else decision.classifier,
        escalation_kinds=[e.kind for e in outcome.escalations],
        escalation_reasons=[e.reason for e in outcome.escalations],
        confidence=_number(None if decision is None else decision.classification, "confidence"),
        complexity=_number(None if decision is None else decision.classification, "complexity_score"),
        routing_score=None if decision is None else decision.routing_score,
        escalation_score=None if decision is None else decision.escalation_score,
        self_quality=None if decision is None else decision.self_assessed_quality,
        agreement=_number(None if decision is None else decision.cascade, "agreement"),
        latency_ms=round(outcome.latency_s * 1000.0, 3),
        tier_ms={} if decision is None else dict(decision.tier_latency_ms),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_prompt_tokens,
        cost_usd=outcome.cost_usd,
        status=outcome.status,
        error_code=outcome.error_code,
        http_status=outcome.http_status,
        at=at,
    )
