"""``cascade.recalibration``: the pure correction, its config validation, and its effect on the live decision."""

import math

import pytest
from pydantic import ValidationError

from router.cascade.recalibration import recalibrate
from router.core.cascade_settings import RECALIBRATION_FILLS, SCORE_CLIP, Recalibration
from router.core.config import parse_config
from router.core.errors import InvalidRequest
from tests.unit.test_cascade_chain import SamplingTier, build, chat
from tests.unit.test_dispatcher import assessment, router_config

IDENTITY = Recalibration(intercept=0.0, weights={"escalation_logit": 1.0}, fitted_on="test")
NO_SIGNALS = dict(self_quality=None, agreement=None, routing_score=None)


@pytest.mark.parametrize("score", [0.001, 0.2, 0.5, 0.73, 0.999])
def test_identity_weights_give_back_the_score(score):
    assert recalibrate(score, **NO_SIGNALS, recalibration=IDENTITY) == pytest.approx(score, rel=1e-9)


def test_the_score_is_clipped_before_its_logit():
    assert recalibrate(0.0, **NO_SIGNALS, recalibration=IDENTITY) == pytest.approx(SCORE_CLIP)
    assert recalibrate(1.0, **NO_SIGNALS, recalibration=IDENTITY) == pytest.approx(1 - SCORE_CLIP)


@pytest.mark.parametrize("name", ["self_quality", "agreement", "routing_score"])
def test_a_missing_signal_reads_as_its_fill(name):
    recalibration = Recalibration(intercept=0.3, weights={"escalation_logit": 0.5, name: -4.0}, fitted_on="test")
    missing = recalibrate(0.6, **NO_SIGNALS, recalibration=recalibration)
    filled = recalibrate(0.6, **{**NO_SIGNALS, name: RECALIBRATION_FILLS[name]}, recalibration=recalibration)
    assert missing == filled
    z = 0.3 + 0.5 * math.log(0.6 / 0.4) - 4.0 * RECALIBRATION_FILLS[name]
    assert missing == pytest.approx(1 / (1 + math.exp(-z)))
    assert recalibrate(0.6, **{**NO_SIGNALS, name: 1.0}, recalibration=recalibration) < missing


@pytest.mark.parametrize("value", [
    {"intercept": 0.0, "weights": {"latency": 1.0}, "fitted_on": "x"},  # not a feature the router computes
    {"intercept": 0.0, "weights": {"escalation_logit": math.nan}, "fitted_on": "x"},
    {"intercept": 0.0, "weights": {"self_quality": math.inf}, "fitted_on": "x"},
    {"intercept": math.inf, "weights": {}, "fitted_on": "x"},
    {"intercept": 0.0, "weights": {"agreement": 51.0}, "fitted_on": "x"},  # past the bound
    {"intercept": 0.0, "weights": {}, "fitted_on": "x", "slope": 1.0},  # extra key
    {"intercept": 0.0, "weights": {}},  # fitted_on is required
])
def test_config_refuses_a_bad_recalibration(value):
    with pytest.raises(ValidationError):
        Recalibration.model_validate(value)
    document = router_config()
    document["cascade"] = {"recalibration": value}
    with pytest.raises(InvalidRequest):
        parse_config(document)


def test_the_config_default_is_no_recalibration():
    assert parse_config(router_config()).cascade.recalibration is None


# Trusts the model's self-grade far more than the shipped score does: a confident Tier 2 answer stays local
# however the resample disagreed, a doubtful one still escalates.
TRUST_SELF_GRADE = {"intercept": 4.0, "weights": {"escalation_logit": 0.2, "self_quality": -10.0},
                    "fitted_on": "test: by hand"}


async def test_a_recalibration_changes_the_escalation_for_the_same_answers():
    def tiers(quality: float) -> tuple[SamplingTier, SamplingTier]:
        return SamplingTier(2, "B" + assessment(quality), "C"), SamplingTier(3, "B")

    shipped = (await build(*tiers(0.95)).complete(chat(), "r1")).decision
    assert shipped.tier == 3 and shipped.escalation_score >= 0.5 and "raw_escalation_score" not in shipped.cascade

    two, three = tiers(0.95)
    decision = (await build(two, three, recalibration=TRUST_SELF_GRADE).complete(chat(), "r2")).decision
    assert decision.tier == 2 and three.requests == []
    assert decision.cascade["raw_escalation_score"] == shipped.escalation_score  # the shipped score, recorded
    assert decision.escalation_score == decision.cascade["escalation_score"] < 0.5 == decision.cascade["threshold"]
    expected = recalibrate(shipped.cascade["escalation_score"], self_quality=0.95,
                           agreement=shipped.cascade["agreement"], routing_score=None,
                           recalibration=Recalibration.model_validate(TRUST_SELF_GRADE))
    assert decision.escalation_score == pytest.approx(expected, abs=1e-3)  # the raw score was rounded to 4 places

    doubtful = (await build(*tiers(0.1), recalibration=TRUST_SELF_GRADE).complete(chat(), "r3")).decision
    assert doubtful.tier == 3 and doubtful.cascade["escalation_score"] >= 0.5
