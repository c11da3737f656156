"""Refit of the escalation score on a workspace's own traffic: a logistic correction over several signals.

The shipped score is calibrated on public data, without the signals a workspace's live traffic carries. Here
P(bad) = sigmoid(intercept + w . x) is fitted to the callers' verdicts, with x = [logit(escalation_score),
self_quality, agreement, routing_score] read from the telemetry (a missing signal reads as its fill, as at run
time: ``router.cascade.recalibration``). Newton's method with a ridge pull towards the identity (escalation
weight 1, everything else 0) keeps a small or separable sample finite and close to the shipped score; the
weights are then bounded as the config requires. The result is a ``cascade.recalibration``.

Rows used: answered at Tier 2 with an escalation score and feedback; the feedback grades the Tier 2 answer,
so "bad" (score < 0.5) is a label for the local answer. Rows that escalated from Tier 2 carry feedback on the
Tier 3 answer instead, which says nothing of the local one: they are counted but not fitted on. The rows are
ordered by (time, decision id) and split with a fixed seed: ``HELD_OUT`` of them are held out.

APGR on feedback data (``router.evaluation.metrics.evaluate_binary``), on the held-out rows: the weak quality
of a row is its feedback score; the strong quality is the mean feedback score of the Tier 3 answers in the
window (1.0 when there are none), the same for every row; the rows are ranked for escalation by the recorded
escalation score (before) and by the recalibrated score (after). The strong cost is 1 and the weak cost 0 per
row. Unlike a one-feature rescaling, the other signals can reorder the rows, so APGR can move; the refit
counts as helping only when the held-out APGR after is strictly above before (at the reported 4 decimals).
The log loss of each score read as P(bad) is reported beside it.
"""

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from router.cascade.recalibration import features, recalibrate
from router.core.cascade_settings import (
    MAX_RECALIBRATION_WEIGHT,
    SCORE_CLIP,
    Recalibration,
    RecalibrationFeature,
)
from router.evaluation.metrics import evaluate_binary
from router.tuning.evidence import Labelled, answered_low

MIN_ROWS = 50
HELD_OUT = 0.3
SEED = 20240601
RIDGE = 1e-2
FEATURES: tuple[RecalibrationFeature, ...] = ("escalation_logit", "self_quality", "agreement", "routing_score")
_IDENTITY = np.array([0.0, 1.0, 0.0, 0.0, 0.0])  # intercept, then FEATURES: the shipped score unchanged

RefitStatus = Literal["fitted", "not_enough_evidence", "one_class"]
APGR_DEFINITION = (
    "APGR on held-out feedback: weak quality = the row's feedback score (answered at Tier 2); strong quality = "
    "mean feedback score of the Tier 3 answers in the window (1.0 when none); rows ranked by the recorded "
    "escalation score (before) or by the recalibrated score over escalation_logit, self_quality, agreement and "
    "routing_score (after); area under the performance-gap-recovered curve"
)


class Refit(BaseModel):
    status: RefitStatus = Field(description="fitted, or why not")
    eligible_rows: int = Field(description="at Tier 2 or escalated from it, with feedback and an escalation score")
    fit_rows: int = Field(description="answered at Tier 2: the rows whose feedback grades the local answer")
    train_rows: int = 0
    held_out_rows: int = 0
    seed: int = SEED
    recalibration: Recalibration | None = Field(default=None, description="the fitted cascade.recalibration")
    helped: bool = Field(default=False, description="held-out APGR after > before: only then may --apply write it")
    strong_quality: float | None = None
    apgr_before: float | None = None
    apgr_after: float | None = None
    log_loss_before: float | None = None
    log_loss_after: float | None = None
    apgr_definition: str = APGR_DEFINITION
    note: str


def _design(items: Sequence[Labelled]) -> np.ndarray:
    """One row per item: 1 (the intercept), then FEATURES, as the router computes them at run time."""
    rows = []
    for item in items:
        r = item.record
        x = features(r.escalation_score, self_quality=r.self_quality, agreement=r.agreement,  # type: ignore[arg-type]
                     routing_score=r.routing_score)
        rows.append([1.0, *(x[name] for name in FEATURES)])
    return np.asarray(rows, float)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def fit_logistic(x: np.ndarray, bad: Sequence[bool], *, ridge: float = RIDGE, steps: int = 100) -> np.ndarray:
    """Maximum likelihood of P(bad) = sigmoid(x @ w), with a ridge of ``ridge`` per row towards the identity."""
    y = np.asarray(bad, float)
    w = _IDENTITY.copy()
    pull = ridge * len(y)
    for _ in range(steps):
        p = _sigmoid(x @ w)
        gradient = x.T @ (p - y) + pull * (w - _IDENTITY)
        hessian = (x.T * (p * (1 - p))) @ x + pull * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


def _bounded(value: float) -> float:
    return round(float(np.clip(value, -MAX_RECALIBRATION_WEIGHT, MAX_RECALIBRATION_WEIGHT)), 6)


def _recalibration(w: np.ndarray, fitted_on: str) -> Recalibration:
    weights = {name: _bounded(v) for name, v in zip(FEATURES, w[1:], strict=True)}
    return Recalibration(intercept=_bounded(w[0]), weights=weights, fitted_on=fitted_on)


def recalibrated(items: Sequence[Labelled], recalibration: Recalibration) -> np.ndarray:
    """The score the router would compute from each row with this recalibration set."""
    return np.array([recalibrate(r.escalation_score, self_quality=r.self_quality, agreement=r.agreement,  # type: ignore[arg-type]
                                 routing_score=r.routing_score, recalibration=recalibration)
                     for r in (item.record for item in items)], float)


def log_loss(p: np.ndarray, bad: np.ndarray) -> float:
    p = np.clip(p, SCORE_CLIP, 1 - SCORE_CLIP)
    return float(-np.mean(bad * np.log(p) + (1 - bad) * np.log(1 - p)))


def _apgr(ranking: np.ndarray, weak: np.ndarray, strong: float) -> float:
    n = len(weak)
    return evaluate_binary(ranking, weak, np.full(n, strong), np.zeros(n), np.ones(n)).apgr


def _fitted_on(rows: Sequence[Labelled], train: int) -> str:
    workspaces = sorted({str(item.record.workspace_id) for item in rows})
    first, last = min(item.record.at for item in rows), max(item.record.at for item in rows)
    return (f"tiered-router tune: workspace {', '.join(workspaces)}; {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} "
            f"UTC; {train} of {len(rows)} Tier 2 answers with feedback, seed {SEED}")


def refit(labelled: Sequence[Labelled], strong_quality: float) -> Refit:
    eligible = [item for item in labelled if item.record.escalation_score is not None
                and (item.record.tier == 2 or 2 in item.record.tier_path)]
    rows = sorted((item for item in eligible if answered_low(item.record) and item.record.tier == 2),
                  key=lambda item: (item.record.at, item.record.id))
    counts = dict(eligible_rows=len(eligible), fit_rows=len(rows))
    if len(rows) < MIN_ROWS:
        return Refit(status="not_enough_evidence", **counts,
                     note=f"not enough evidence: {len(rows)} Tier 2 answers with feedback and an escalation score "
                          f"(need {MIN_ROWS}); the shipped calibration stays")
    order = np.random.default_rng(SEED).permutation(len(rows))
    cut = math.ceil(len(rows) * HELD_OUT)
    held, train = [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]
    counts.update(train_rows=len(train), held_out_rows=len(held))
    train_bad = [item.bad for item in train]
    if all(train_bad) or not any(train_bad):
        return Refit(status="one_class", **counts,
                     note="every training row has the same verdict: there is nothing to calibrate against")
    recalibration = _recalibration(fit_logistic(_design(train), train_bad), _fitted_on(rows, len(train)))
    # Measured with the Recalibration itself (bounded, rounded): exactly what the router would apply.
    scores = np.array([item.record.escalation_score for item in held], float)
    after = recalibrated(held, recalibration)
    bad = np.array([item.bad for item in held], float)
    weak = np.array([item.score for item in held], float)
    result = Refit(status="fitted", **counts, recalibration=recalibration, strong_quality=round(strong_quality, 4),
                   log_loss_before=round(log_loss(scores, bad), 4), log_loss_after=round(log_loss(after, bad), 4),
                   note="")
    if strong_quality <= float(weak.mean()):
        result.note = (f"APGR undefined: Tier 3's mean feedback ({strong_quality:.3f}) does not beat the held-out "
                       f"Tier 2 answers' ({weak.mean():.3f}); with no routing gain to measure, the refit is not "
                       "offered for --apply")
        return result
    result.apgr_before = round(_apgr(scores, weak, strong_quality), 4)
    result.apgr_after = round(_apgr(after, weak, strong_quality), 4)
    result.helped = result.apgr_after > result.apgr_before
    if result.helped:
        result.note = (f"the refit ranks the held-out answers better (APGR {result.apgr_before:.4f} -> "
                       f"{result.apgr_after:.4f}); --apply writes it as cascade.recalibration")
    else:
        result.note = (f"the refit did not help on held-out data (APGR {result.apgr_before:.4f} -> "
                       f"{result.apgr_after:.4f}): --apply does not write it")
    return result
