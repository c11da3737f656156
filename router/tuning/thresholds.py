"""Suggested thresholds, each from one signal against the feedback, with the evidence it rests on.

For a signal (the escalation score, Tier 2's self-assessed quality, the routing score) and a candidate
threshold t, a request escalates when the signal is on the escalating side of t. The *evidence* is the rows
answered by a local tier (0-2) that carry the signal and feedback: they say how often a local answer was bad
at each value of the signal. The suggestion is the t, on a 0.01 grid, that sends the fewest requests to
Tier 3 while the bad-feedback rate of the evidence rows still answered locally stays at or under the target.

* Frontier share: of every row in the window that carries the signal (with or without feedback), the share
  that would escalate at t.
* Bad-answer rate: on the evidence rows, a row kept local counts its own feedback; a row that would now
  escalate counts the bad share of Tier 3 answers in the data (0 when there are none).
* The data cannot speak beyond its own range: t is not moved past the evidence's highest (or, for a signal
  that escalates below t, lowest) value. With fewer than ``MIN_EVIDENCE`` rows the current value is kept, and
  so it is when only escalating every evidence row would meet the target (the signal does not separate).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from router.core.config import RouterConfig
from router.storage.telemetry import DecisionRecord
from router.tuning.evidence import Labelled, answered_low

MIN_EVIDENCE = 20
GRID = tuple(i / 100 for i in range(101))

Direction = Literal["above", "below"]  # escalate when the signal is >= t, or when it is < t
Status = Literal["suggested", "keep", "not_enough_evidence", "no_feedback", "target_unreachable"]


class Suggestion(BaseModel):
    key: str = Field(description="the router config key, e.g. cascade.threshold")
    signal: str
    current: float
    suggested: float = Field(description="equal to current unless status is 'suggested'")
    status: Status
    rows: int = Field(description="evidence rows: answered locally, with this signal and feedback")
    population: int = Field(description="rows in the window with this signal: the base of the frontier share")
    frontier_share_current: float | None = None
    frontier_share_suggested: float | None = None
    bad_rate_current: float | None = None
    bad_rate_suggested: float | None = None
    low_bad_rate_suggested: float | None = Field(default=None, description="bad share of the rows kept local")
    note: str


@dataclass(frozen=True)
class _Signal:
    key: str
    name: str
    direction: Direction
    read: Callable[[DecisionRecord], float | None]
    current: Callable[[RouterConfig], float]
    caveat: Callable[[RouterConfig], str]


def _escalates(value: float, t: float, direction: Direction) -> bool:
    return value >= t if direction == "above" else value < t


def _share(values: Sequence[float], t: float, direction: Direction) -> float:
    return sum(_escalates(v, t, direction) for v in values) / len(values) if values else 0.0


def _kept(points: Sequence[tuple[float, bool]], t: float, direction: Direction) -> list[bool]:
    return [bad for value, bad in points if not _escalates(value, t, direction)]


def _low_bad_rate(points: Sequence[tuple[float, bool]], t: float, direction: Direction) -> float:
    kept = _kept(points, t, direction)
    return sum(kept) / len(kept) if kept else 0.0


def _bad_rate(points: Sequence[tuple[float, bool]], t: float, direction: Direction, frontier_bad: float) -> float:
    total = sum(frontier_bad if _escalates(value, t, direction) else float(bad) for value, bad in points)
    return total / len(points)


def _candidates(points: Sequence[tuple[float, bool]], current: float, direction: Direction) -> list[float]:
    values = [value for value, _ in points]
    if direction == "above":
        edge = min(1.0, math.floor(round(max(values) * 100, 9)) / 100 + 0.01)  # the highest value still answered locally
        inside = [t for t in GRID if t <= edge]
    else:
        edge = math.floor(round(min(values) * 100, 9)) / 100
        inside = [t for t in GRID if t >= edge]
    return sorted({*inside, current})


def sweep(signal: _Signal, labelled: Sequence[Labelled], records: Sequence[DecisionRecord], config: RouterConfig,
          target: float, frontier_bad: float) -> Suggestion:
    current = signal.current(config)
    population = [v for v in (signal.read(r) for r in records) if v is not None]
    points = [(v, item.bad) for item in labelled if answered_low(item.record)
              and (v := signal.read(item.record)) is not None]
    base = dict(key=signal.key, signal=signal.name, current=current, suggested=current, rows=len(points),
                population=len(population))
    if not labelled:
        return Suggestion(**base, status="no_feedback", note="no feedback in this window: nothing to suggest")
    if len(points) < MIN_EVIDENCE:
        return Suggestion(**base, status="not_enough_evidence",
                          note=f"not enough evidence: {len(points)} local answers with {signal.name} and feedback "
                               f"(need {MIN_EVIDENCE}); keeping {current:g}")
    d = signal.direction
    candidates = _candidates(points, current, d)
    # A threshold that escalates every evidence row meets any target trivially: it says the signal does not
    # separate bad answers from good ones, not that this is the right threshold.
    meeting = [t for t in candidates if _kept(points, t, d) and _low_bad_rate(points, t, d) <= target]
    if not meeting:
        lowest = min((_low_bad_rate(points, t, d) for t in candidates if _kept(points, t, d)), default=1.0)
        return Suggestion(**base, status="target_unreachable",
                          note=f"no threshold on {signal.name} keeps the local bad-feedback rate at or under "
                               f"{target:.0%} while answering any request locally (lowest {lowest:.1%}): the signal "
                               f"does not separate bad answers here; keeping {current:g}")
    # Fewest to Tier 3 first; among equals the smallest move from the current value.
    best = min(meeting, key=lambda t: (_share(population, t, d), abs(t - current)))
    side = ">=" if d == "above" else "<"
    note = (f"escalating at {signal.name} {side} {best:g} meets the target local bad-feedback rate "
            f"{target:.0%} ({_low_bad_rate(points, best, d):.1%}) with the fewest requests sent to Tier 3; "
            f"rows that would escalate are counted at the Tier 3 bad share {frontier_bad:.1%}")
    caveat = signal.caveat(config)
    return Suggestion(
        **{**base, "suggested": best}, status="keep" if best == current else "suggested",
        frontier_share_current=round(_share(population, current, d), 4),
        frontier_share_suggested=round(_share(population, best, d), 4),
        bad_rate_current=round(_bad_rate(points, current, d, frontier_bad), 4),
        bad_rate_suggested=round(_bad_rate(points, best, d, frontier_bad), 4),
        low_bad_rate_suggested=round(_low_bad_rate(points, best, d), 4),
        note=note + (f"; {caveat}" if caveat else ""),
    )


def _quality_caveat(config: RouterConfig) -> str:
    if config.cascade.enabled:
        return "the cascade is on: this threshold decides only when Tier 2 has no second opinion"
    return ""


SIGNALS = (
    _Signal("cascade.threshold", "escalation_score", "above", lambda r: r.escalation_score,
            lambda c: c.cascade.threshold, lambda c: "" if c.cascade.enabled else "the cascade is off in this config"),
    _Signal("thresholds.quality", "self_quality", "below", lambda r: r.self_quality,
            lambda c: c.thresholds.quality, _quality_caveat),
    _Signal("thresholds.frontier_score", "routing_score", "above", lambda r: r.routing_score,
            lambda c: c.thresholds.frontier_score,
            lambda c: "a confident, simple prompt still starts at Tier 1 whatever its routing score"),
)


def suggest(labelled: Sequence[Labelled], records: Sequence[DecisionRecord], config: RouterConfig, *,
            target: float, frontier_bad: float) -> list[Suggestion]:
    return [sweep(signal, labelled, records, config, target, frontier_bad) for signal in SIGNALS]
