"""The composite routing score: one number in [0, 1], higher meaning a stronger tier is needed.

score = w_complexity * complexity + w_uncertainty * (1 - confidence) + w_hallucination * hallucination_risk
(+ caller escalation signals, capped at 1). Weights come from the config and sum to 1.
"""

from router.core.config import ScoreWeights
from router.decision.classification import Classification


def routing_score(classification: Classification, weights: ScoreWeights, boost: float = 0.0) -> float:
    score = (
        weights.complexity * classification.complexity_score
        + weights.uncertainty * (1.0 - classification.confidence)
        + weights.hallucination_risk * classification.hallucination_risk
        + boost
    )
    return min(1.0, max(0.0, score))
