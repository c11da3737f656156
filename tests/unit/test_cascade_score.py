"""The escalation score's inputs and arithmetic, exactly: what each feature is for a known comparison."""

import math

import pytest

from router.cascade.compare import Candidate, compare
from router.cascade.score import (
    FEATURES,
    CascadeParams,
    EscalationScorer,
    features,
    shipped_params,
)

CHOICE = "Which?\nA) one\nB) two\nC) three\nD) four\nAnswer:"
CODE = "Write a python function that adds two numbers."


def vector(prompt: str, *answers: str, routing: float = 0.4) -> dict[str, float]:
    comparison = compare(prompt, [Candidate(str(i), a) for i, a in enumerate(answers)])
    return dict(zip(FEATURES, features(comparison, routing, prompt), strict=True))


def test_a_choice_agreement_has_the_choice_features_and_the_option_count():
    f = vector(CHOICE, "B", "B")
    assert f == {"bias": 1.0, "agreement": 1.0, "choice": 1.0, "code": 0.0, "agreement_x_choice": 1.0,
                 "agreement_x_code": 0.0, "inverse_options": 0.25, "agreement_x_inverse_options": 0.25,
                 "first_unusable": 0.0, "other_unusable": 0.0, "routing_score": 0.4,
                 "routing_score_x_agreement": 0.4}


def test_code_has_the_code_features_and_no_option_count():
    f = vector(CODE, "```python\ndef f(a, b):\n    return a + b\n```", "```python\ndef g(x, y):\n    return x + y\n```")
    assert (f["code"], f["choice"], f["agreement_x_code"], f["inverse_options"]) == (1.0, 0.0, 1.0, 0.0)


def test_free_text_has_neither_form_flag():
    f = vector("Tell me about Rome.", "Rome is old.", "Rome is old.")
    assert (f["choice"], f["code"], f["inverse_options"], f["agreement"]) == (0.0, 0.0, 0.0, 1.0)


def test_unusable_answers_are_told_apart_first_and_others():
    assert vector(CHOICE, "I'm sorry, I can't help.", "B")["first_unusable"] == 1.0
    late = vector(CHOICE, "B", "B", "")  # only the third is unusable
    assert (late["first_unusable"], late["other_unusable"]) == (0.0, 1.0)
    assert vector(CHOICE, "B", "C", "D")["other_unusable"] == 0.0
    second = vector(CHOICE, "B", "")  # the usual pair: the second opinion gave nothing usable
    assert (second["first_unusable"], second["other_unusable"]) == (0.0, 1.0)


def test_the_score_is_the_logistic_of_the_weights_and_the_self_grade_moves_it():
    scorer = EscalationScorer(self_assessment_weight=0.5)
    comparison = compare(CHOICE, [Candidate("a", "B"), Candidate("b", "C")])
    z = sum(w * x for w, x in zip(shipped_params().weights, features(comparison, 0.3, CHOICE), strict=True))
    assert scorer.logit(comparison, 0.3, CHOICE) == pytest.approx(z)
    assert scorer.score(comparison, 0.3, CHOICE) == pytest.approx(1 / (1 + math.exp(-z)))
    assert scorer.score(comparison, 0.3, CHOICE, self_quality=0.2) == pytest.approx(1 / (1 + math.exp(-(z + 0.3))))
    assert scorer.score(comparison, 0.3, CHOICE, self_escalate=True) == pytest.approx(1 / (1 + math.exp(-(z + 0.5))))


def test_extreme_logits_saturate_without_overflow():
    params = shipped_params().model_copy(update={"weights": [-1000.0] + [0.0] * (len(FEATURES) - 1)})
    comparison = compare(CHOICE, [Candidate("a", "B"), Candidate("b", "B")])
    assert EscalationScorer(params).score(comparison, 0.0, CHOICE) == 1 / (1 + math.exp(60.0))
    params = params.model_copy(update={"weights": [1000.0] + [0.0] * (len(FEATURES) - 1)})
    assert EscalationScorer(params).score(comparison, 0.0, CHOICE) == 1 / (1 + math.exp(-60.0))


def test_parameters_for_other_features_or_of_the_wrong_length_are_refused():
    shipped = shipped_params()
    with pytest.raises(ValueError, match="cascade parameters are for features"):
        EscalationScorer(CascadeParams(**{**shipped.model_dump(), "features": ["bias"]}))
    short = EscalationScorer(shipped.model_copy(update={"weights": shipped.weights[:-1]}))
    with pytest.raises(ValueError):
        short.logit(compare(CHOICE, [Candidate("a", "B"), Candidate("b", "B")]), 0.1, CHOICE)
