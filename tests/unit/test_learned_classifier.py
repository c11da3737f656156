"""The learned classifier: valid fields for varied prompts, shipped parameters, reproducible fitting."""

import json
from pathlib import Path

import numpy as np
import pytest

from router.core.config import ScoreWeights, Thresholds
from router.decision.classification import CLASSIFIERS, Classification
from router.decision.features import split_few_shot
from router.decision.learned_classifier import LearnedClassifier, shipped_params
from router.decision.scoring import routing_score
from router.evaluation.data import (
    STRONG_MODEL,
    WEAK_MODEL,
    RoutingRecord,
    file_sha256,
    read_levelled,
    read_routerbench,
)
from router.evaluation.fitting import fit

EVAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "eval"
TRAIN_CSV = EVAL_DATA / "routerbench" / "train.csv"
MATH_JSONL = EVAL_DATA / "math500" / "math500_with_level.jsonl"
needs_train = pytest.mark.skipif(not TRAIN_CSV.is_file(), reason=f"{TRAIN_CSV} not present")
needs_math = pytest.mark.skipif(not MATH_JSONL.is_file(), reason=f"{MATH_JSONL} not present")

PROMPTS = {
    "greeting": "hello!",
    "code": "Write a python function to find the longest common subsequence of two strings.",
    "math": r"Find all real $x$ such that $\sqrt{x+7} - \sqrt{x} = 1$ and $x^2 - 3x + 2 \ge 0$.",
    "summarization": "Summarize the following documents.\n" + "\n".join(
        f"Document {i}: " + "The committee met to discuss the budget and staffing plans. " * 40 for i in range(1, 5)),
    "factual": "Which gas do plants absorb from the air?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon",
}


@pytest.fixture(scope="module")
def classifier() -> LearnedClassifier:
    return LearnedClassifier()


def test_registered_under_learned():
    assert CLASSIFIERS["learned"] is LearnedClassifier


@pytest.mark.parametrize("intent", sorted(PROMPTS))
def test_valid_classification_for_varied_prompts(classifier, intent):
    result = classifier.classify(PROMPTS[intent])
    assert isinstance(result, Classification)
    Classification.model_validate(result.model_dump())  # every range and literal holds
    assert result.intent == intent
    assert result.safety_flag is False and result.action is None and result.target is None
    assert result.confidence == pytest.approx(1 - result.complexity_score)
    assert result.hallucination_risk <= result.complexity_score


def test_empty_and_odd_input_still_classifies(classifier):
    for text in ("", "   ", "\x00\x01", "?" * 5000, "x" * 20000):
        assert 0.0 <= classifier.classify(text).complexity_score <= 1.0


def test_greeting_stays_at_tier_1_and_hard_math_goes_up(classifier):
    assert classifier.classify(PROMPTS["greeting"]).recommended_tier == 1
    hard = classifier.classify(PROMPTS["math"])
    assert hard.recommended_tier in (2, 3) and hard.requires_reasoning


def test_tier_follows_the_configured_thresholds():
    text = PROMPTS["factual"]
    lax = LearnedClassifier(thresholds=Thresholds(confidence=0.0, complexity=1.0)).classify(text)
    strict = LearnedClassifier(thresholds=Thresholds(confidence=1.0, complexity=0.0)).classify(text)
    eager = LearnedClassifier(tier3_complexity=0.0).classify(text)
    assert lax.recommended_tier == 1
    assert strict.recommended_tier == 2
    assert eager.recommended_tier == 3


def test_composite_score_rises_with_complexity(classifier):
    """With confidence = 1 - complexity the default composite is 0.7 x complexity + 0.3 x hallucination risk,
    and hallucination risk (p_gain) never exceeds complexity (p_fail): so it rises with complexity."""
    weights = ScoreWeights()
    for c in (classifier.classify(t) for t in PROMPTS.values()):
        assert c.confidence == pytest.approx(1 - c.complexity_score)
        assert c.hallucination_risk <= c.complexity_score
        assert routing_score(c, weights) == pytest.approx(0.7 * c.complexity_score + 0.3 * c.hallucination_risk)
    greeting, math = classifier.classify(PROMPTS["greeting"]), classifier.classify(PROMPTS["math"])
    assert routing_score(greeting, weights) < routing_score(math, weights)


def test_few_shot_prefix_is_split_off():
    prompt = ("Q one?\nA) x\nB) y\nAnswer:\nA\n\nQ two?\nA) x\nB) y\nAnswer:\nB\n\n"
              "The real question?\nA) p\nB) q\nAnswer:")
    view = split_few_shot(prompt)
    assert view.demos == 2 and view.question.startswith("The real question?")


def _records(n: int, seed: int) -> list[RoutingRecord]:
    rng = np.random.default_rng(seed)
    words = ["list", "string", "sum", "tree", "prime", "sort", "merge", "graph", "why", "which"]
    out = []
    for i in range(n):
        text = "Write a function to " + " ".join(rng.choice(words, size=int(rng.integers(3, 12))))
        weak, strong = float(rng.integers(0, 2)), float(rng.integers(0, 2))
        out.append(RoutingRecord(str(i), "synthetic", text, {WEAK_MODEL: weak, STRONG_MODEL: strong},
                                 {WEAK_MODEL: 0.001, STRONG_MODEL: 0.01}))
    return out


def test_fitting_twice_gives_identical_parameters():
    records = _records(120, seed=3)
    assert fit(records).to_json() == fit(records).to_json()


def test_shipped_parameters_load_and_describe_their_source():
    params = shipped_params()
    assert params.weak_model == WEAK_MODEL and params.strong_model == STRONG_MODEL
    assert len(params.fail.hashed) == params.hash_dim and len(params.fail.dense) == len(params.dense_names)
    assert json.loads(params.to_json())["format"] == 1


@needs_train
def test_shipped_parameters_match_a_fresh_fit_of_the_calibration_file():
    params = shipped_params()
    assert params.source_sha256 == file_sha256(TRAIN_CSV)
    fresh = fit(read_routerbench(TRAIN_CSV), source_sha256=file_sha256(TRAIN_CSV))
    for a, b in ((params.fail, fresh.fail), (params.gain, fresh.gain)):
        # Equal to the stored precision; a different BLAS may move the last rounded digit.
        assert np.allclose(a.dense, b.dense, atol=1e-5) and np.allclose(a.hashed, b.hashed, atol=1e-5)
        assert a.bias == pytest.approx(b.bias, abs=1e-5)


@needs_math
def test_complexity_rises_with_math_level(classifier):
    problems = read_levelled(MATH_JSONL)
    by_level = {lv: [p.problem for p in problems if p.level == lv][:25] for lv in (1, 5)}
    mean = {lv: np.mean([classifier.classify(t).complexity_score for t in texts]) for lv, texts in by_level.items()}
    assert mean[5] > mean[1]
    assert all(classifier.classify(t).intent == "math" for t in by_level[5][:5])


def test_the_learned_classifier_is_found_by_name_as_the_ingress_asks_for_it():
    # load_classifier imports the module by name and answers None when it is missing: a moved module would
    # silently leave the ingress without a classifier.
    from router.decision.classification import load_classifier

    assert isinstance(load_classifier("learned"), LearnedClassifier)
    assert load_classifier("no-such") is None
