"""The ``cascade`` section of the router config: how Tier 2 checks its answer before the frontier is paid."""

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SOURCE = re.compile(r"^(?:resample|tier-1|provider:[A-Za-z0-9_.-]+)$")

RecalibrationFeature = Literal["escalation_logit", "self_quality", "agreement", "routing_score"]
# A signal the request did not carry reads as the middle of its range: no evidence either way.
RECALIBRATION_FILLS: dict[str, float] = {"self_quality": 0.5, "agreement": 0.5, "routing_score": 0.5}
SCORE_CLIP = 1e-4  # the escalation score is clipped to [SCORE_CLIP, 1 - SCORE_CLIP] before its logit
MAX_RECALIBRATION_WEIGHT = 50.0  # far past any useful fit; keeps a hand-edited value from saturating everything
_Weight = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_RECALIBRATION_WEIGHT, le=MAX_RECALIBRATION_WEIGHT)]


class Recalibration(BaseModel):
    """score' = sigmoid(intercept + sum of weights[f] * x[f]); a feature without a weight counts 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intercept: _Weight
    weights: dict[RecalibrationFeature, _Weight]
    fitted_on: str = Field(description="free text: the workspace, the window and the rows it was fitted on")


class CascadeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=True, description="escalate from Tier 2 on the escalation score of its answer against a second "
                                  "local opinion; off: on the model's self-assessment alone")
    second_opinion: str = Field(
        default="resample",
        description="resample: the light model sampled again; tier-1: the micro model's answer; provider:<name>: a "
                    "local provider of the frontier pool (tagged local or dgx)")
    samples: int = Field(default=2, ge=2, le=8, description="answers compared, the tier's own included")
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        default=0.7, description="sampling temperature of the extra samples (resample)")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="escalate at or above this escalation score")
    check_tier_1: bool = Field(
        default=False, description="also check a Tier 1 answer (resampled) before returning it; it then streams "
                                   "as one delta, like Tier 2")
    self_assessment_weight: float = Field(
        default=0.25, ge=0.0, le=10.0,
        description="how far the model's own grade moves the score (logit units: a grade of 0 adds it, 1 takes it "
                    "away); small, because small models grade themselves poorly and public data has no grades to "
                    "calibrate it on")
    timeout_s: float | None = Field(
        default=None, gt=0, description="longest wait for the second opinion; default: the tier's timeout")
    recalibration: Recalibration | None = Field(
        default=None,
        description="a logistic correction of the escalation score fitted by `tiered-router tune` on the "
                    "workspace's own feedback: score' = sigmoid(intercept + sum w_i * x_i), with x = "
                    "escalation_logit: logit(escalation score clipped to [1e-4, 1 - 1e-4]), and self_quality, "
                    "agreement, routing_score in [0, 1]; a missing signal reads as its fill (self_quality 0.5, "
                    "agreement 0.5, routing_score 0.5). The threshold then applies to score'. Default: none, "
                    "the shipped calibration alone")

    @field_validator("second_opinion")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if not _SOURCE.match(value):
            raise ValueError("must be resample, tier-1 or provider:<name>")
        return value

    @property
    def provider(self) -> str | None:
        return self.second_opinion.split(":", 1)[1] if self.second_opinion.startswith("provider:") else None
