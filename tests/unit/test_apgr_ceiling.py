"""scripts/apgr_ceiling.py: out-of-fold reference scores that never see their own row's label."""

import importlib.util
from pathlib import Path

import numpy as np

from router.evaluation.data import STRONG_MODEL, WEAK_MODEL, RoutingRecord
from router.evaluation.metrics import evaluate_binary, oracle_binary

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "apgr_ceiling.py"


def _script():
    spec = importlib.util.spec_from_file_location("apgr_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _records(n: int = 200, seed: int = 0) -> list[RoutingRecord]:
    """The weak model fails exactly where a third model fails; the strong one is always right."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        weak_ok = float(rng.random() < 0.6)
        quality = {WEAK_MODEL: weak_ok, STRONG_MODEL: 1.0, "third": weak_ok}
        cost = {WEAK_MODEL: 1.0, STRONG_MODEL: 10.0, "third": 2.0}
        out.append(RoutingRecord(str(i), "a" if i % 2 else "b", f"prompt {i}", quality, cost))
    return out


def _columns(records):
    return [np.array([r.quality[WEAK_MODEL] for r in records]), np.array([r.quality[STRONG_MODEL] for r in records]),
            np.array([r.cost[WEAK_MODEL] for r in records]), np.array([r.cost[STRONG_MODEL] for r in records])]


def test_other_models_outcomes_reach_the_oracle_when_they_determine_the_label():
    records = _records()
    scores = _script().reference_scores(records, folds=5)
    columns = _columns(records)
    assert evaluate_binary(scores["other models' outcomes"], *columns).apgr == oracle_binary(*columns)[0].apgr


def test_benchmark_rates_come_from_the_other_folds_only():
    records = _records()
    base = _script().reference_scores(records, folds=5)["benchmark only"]
    flipped = list(records)
    r = records[0]
    flipped[0] = RoutingRecord(r.sample_id, r.source, r.prompt, {**r.quality, WEAK_MODEL: 1.0 - r.quality[WEAK_MODEL]},
                               r.cost)
    again = _script().reference_scores(flipped, folds=5)["benchmark only"]
    assert again[0] == base[0]  # a row's own label never reaches its score


def test_logistic_separates_a_clean_signal():
    x = np.array([[0.0], [0.0], [1.0], [1.0]])
    w = _script().logistic(x, np.array([0.0, 0.0, 1.0, 1.0]))
    assert w[1] > 0 and 1 / (1 + np.exp(-(w[0] + w[1]))) > 0.9


def test_a_sibling_model_that_fails_on_the_same_rows_ranks_like_the_oracle_and_missing_rows_tie():
    records = _records()
    r = records[0]
    records[0] = RoutingRecord(r.sample_id, r.source, r.prompt, {k: v for k, v in r.quality.items() if k != "third"},
                               r.cost)
    scores = _script().unfitted_scores(records)
    columns = _columns(records)
    assert set(scores) == {"third failed", "other models' mean failure"}
    assert scores["third failed"][0] == np.mean([1.0 - x.quality[WEAK_MODEL] for x in records[1:]])
    assert evaluate_binary(scores["third failed"], *columns).apgr > 0.99 * oracle_binary(*columns)[0].apgr
