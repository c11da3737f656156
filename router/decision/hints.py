"""Caller hints from ``x-router-*`` headers, merged with the body's ``router`` field (the body wins)."""

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from router.core.api import RouterHints
from router.core.config import SignalWeights
from router.core.errors import InvalidRequest

_TIER_HEADERS = {"x-router-min-tier": "min_tier", "x-router-max-tier": "max_tier",
                 "x-router-preferred-tier": "preferred_tier"}
_SIGNAL_HEADERS = {"x-router-confidence": "confidence", "x-router-missing-citations": "missing_citations",
                   "x-router-contradiction-ambiguity": "contradiction_ambiguity",
                   "x-router-synthesis-complexity": "synthesis_complexity"}


def hints_from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    lowered = {k.lower(): v for k, v in headers.items()}
    hints: dict[str, Any] = {field: lowered[h] for h, field in _TIER_HEADERS.items() if h in lowered}
    if "x-router-agent-id" in lowered:
        hints["agent_id"] = lowered["x-router-agent-id"]
    if "x-router-precision" in lowered:
        hints["precision"] = lowered["x-router-precision"]
    signals = {field: lowered[h] for h, field in _SIGNAL_HEADERS.items() if h in lowered}
    if signals:
        hints["signals"] = signals
    return hints


def merge_hints(body_hints: RouterHints | None, headers: Mapping[str, str]) -> RouterHints:
    from_headers = hints_from_headers(headers)
    if not from_headers:
        return body_hints or RouterHints()
    merged = dict(from_headers)
    if body_hints is not None:
        given = body_hints.model_dump(exclude_unset=True)
        signals = {**merged.get("signals", {}), **given.pop("signals", {})}
        merged.update(given)
        if signals:
            merged["signals"] = signals
    try:
        return RouterHints.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors(include_url=False))
        raise InvalidRequest(f"invalid router hints in x-router-* headers: {problems}", param="router") from None


def signal_boost(hints: RouterHints, weights: SignalWeights) -> float:
    """How much the caller's escalation signals raise the routing score."""
    signals = hints.signals
    boost = 0.0
    if signals.confidence is not None:
        boost += weights.low_confidence * (1.0 - signals.confidence)
    if signals.missing_citations:
        boost += weights.missing_citations
    boost += weights.contradiction_ambiguity * signals.contradiction_ambiguity
    boost += weights.synthesis_complexity * signals.synthesis_complexity
    return boost
