"""The escalation score: how likely the strong tier is needed after the local tier has answered, in [0, 1].

A logistic model over the comparison of the local answers (agreement, the answer's form, the number of
options a choice had, unusable answers) and the prompt's routing score. Its parameters ship in
``router/data/cascade_params.json``, rebuilt byte for byte by ``scripts/fit_cascade.py`` from the shared
RouterBench train files. The model's own self-assessment, when it gave one, moves the score by a configured
weight: the train files hold no self-assessments, so that weight cannot be calibrated there.
"""

import json
import math
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from router.cascade.compare import Comparison
from router.cascade.forms import options

PARAMS_RESOURCE = "data/cascade_params.json"
FEATURES = (
    "bias", "agreement", "choice", "code", "agreement_x_choice", "agreement_x_code", "inverse_options",
    "agreement_x_inverse_options", "first_unusable", "other_unusable", "routing_score", "routing_score_x_agreement",
)


class CascadeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    features: list[str]
    weights: list[float]
    target: str  # what the model predicts: "gain" = the local answer is wrong and the strong one right
    rows: int
    second_opinions: list[str]
    weak_model: str
    strong_model: str
    source_sha256: dict[str, str]


def features(comparison: Comparison, routing_score: float, prompt: str) -> list[float]:
    a = comparison.agreement
    choice, code = float(comparison.form == "choice"), float(comparison.form == "code")
    count = len(options(prompt)) if comparison.form == "choice" else 0
    inverse = 1.0 / count if count else 0.0
    first_unusable = float(comparison.problems[0] is not None)
    other_unusable = float(any(p is not None for p in comparison.problems[1:]))
    return [1.0, a, choice, code, a * choice, a * code, inverse, a * inverse, first_unusable, other_unusable,
            routing_score, routing_score * a]


@cache
def shipped_params() -> CascadeParams:
    text = resources.files("router").joinpath(PARAMS_RESOURCE).read_text(encoding="utf-8")
    return CascadeParams.model_validate(json.loads(text))


class EscalationScorer:
    def __init__(self, params: CascadeParams | None = None, self_assessment_weight: float = 0.25) -> None:
        self.params = params or shipped_params()
        if tuple(self.params.features) != FEATURES:
            raise ValueError(f"cascade parameters are for features {self.params.features}, expected {list(FEATURES)}")
        self.self_assessment_weight = self_assessment_weight

    def logit(self, comparison: Comparison, routing_score: float, prompt: str) -> float:
        return sum(w * x for w, x in zip(self.params.weights, features(comparison, routing_score, prompt),
                                         strict=True))

    def score(self, comparison: Comparison, routing_score: float, prompt: str, *,
              self_quality: float | None = None, self_escalate: bool = False) -> float:
        """``self_quality``/``self_escalate``: the local model's own grade of its answer, when it gave one."""
        z = self.logit(comparison, routing_score, prompt)
        if self_quality is not None:
            z += self.self_assessment_weight * (1.0 - 2.0 * self_quality)
        if self_escalate:
            z += self.self_assessment_weight
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
