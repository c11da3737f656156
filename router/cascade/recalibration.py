"""The workspace's own correction of the escalation score (``cascade.recalibration``), applied after the
shipped score: score' = sigmoid(intercept + sum of w_i * x_i).

The features are the ones ``tiered-router tune`` reads back from the telemetry, so the correction it fits on
recorded rows is the one applied here to live requests, value for value.
"""

import math

from router.core.cascade_settings import (
    RECALIBRATION_FILLS,
    SCORE_CLIP,
    Recalibration,
    RecalibrationFeature,
)


def logit(score: float) -> float:
    p = min(1.0 - SCORE_CLIP, max(SCORE_CLIP, score))
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def features(score: float, *, self_quality: float | None, agreement: float | None,
             routing_score: float | None) -> dict[RecalibrationFeature, float]:
    """The recalibration's inputs; a missing signal reads as its fill."""
    signals = {"self_quality": self_quality, "agreement": agreement, "routing_score": routing_score}
    values: dict[RecalibrationFeature, float] = {"escalation_logit": logit(score)}
    for name, value in signals.items():
        values[name] = RECALIBRATION_FILLS[name] if value is None else float(value)  # type: ignore[index]
    return values


def recalibrate(score: float, *, self_quality: float | None, agreement: float | None, routing_score: float | None,
                recalibration: Recalibration) -> float:
    x = features(score, self_quality=self_quality, agreement=agreement, routing_score=routing_score)
    z = recalibration.intercept + sum(w * x[name] for name, w in recalibration.weights.items())
    return sigmoid(z)
