"""The routing metrics on tiny datasets whose answers can be worked out by hand."""

import numpy as np
import pytest

from router.evaluation.metrics import (
    evaluate_binary,
    oracle_binary,
    random_binary,
    routing_curve,
    spearman,
    three_way,
    three_way_oracle,
    three_way_random,
)

# Four prompts: the strong model rescues prompts 0 and 1, both are right on 2, both wrong on 3.
WEAK_Q = [0, 0, 1, 0]
STRONG_Q = [1, 1, 1, 0]
WEAK_COST = [1.0, 1.0, 1.0, 1.0]
STRONG_COST = [10.0, 10.0, 10.0, 10.0]
DATA = (WEAK_Q, STRONG_Q, WEAK_COST, STRONG_COST)


def test_curve_runs_from_all_weak_to_all_strong():
    curve = routing_curve([0.9, 0.8, 0.2, 0.1], *DATA)
    assert curve.fraction.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.quality.tolist() == [0.25, 0.5, 0.75, 0.75, 0.75]
    assert curve.cost.tolist() == [4.0, 13.0, 22.0, 31.0, 40.0]


def test_perfect_scorer_gets_the_oracle_curve_and_its_apgr():
    perfect = evaluate_binary([0.9, 0.8, 0.2, 0.1], *DATA)
    oracle, _ = oracle_binary(*DATA)
    assert np.array_equal(perfect.curve.quality, oracle.curve.quality)
    # PGR at f = 0, .25, .5, .75, 1: 0, .5, 1, 1, 1 -> trapezoid area .25*(.25 + .75 + 1 + 1) = .75
    assert perfect.apgr == pytest.approx(0.75)
    assert perfect.apgr == pytest.approx(oracle.apgr)


def test_cpt_and_saving_at_95_percent():
    perfect = evaluate_binary([0.9, 0.8, 0.2, 0.1], *DATA)
    # 0.95 * 0.75 = 0.7125 is first reached with two strong calls: cost 22 of 40.
    assert perfect.cpt95 == pytest.approx(0.5)
    assert perfect.cost_saving95 == pytest.approx(1 - 22 / 40)


def test_random_is_one_half_and_a_constant_score_is_random():
    assert random_binary(*DATA).apgr == pytest.approx(0.5)
    assert evaluate_binary([0.3] * 4, *DATA).apgr == pytest.approx(0.5)
    # Random needs all of the gap less 5% of q_strong: f = (0.7125 - 0.25) / 0.5 -> first grid point 1.0
    assert random_binary(*DATA).cpt95 == pytest.approx(1.0)


def test_reversed_scorer_is_worse_than_random():
    assert evaluate_binary([0.1, 0.2, 0.8, 0.9], *DATA).apgr < 0.5


def test_result_does_not_depend_on_row_order():
    rng = np.random.default_rng(1)
    n = 200
    wq, sq = rng.integers(0, 2, n), np.maximum(rng.integers(0, 2, n), rng.integers(0, 2, n))
    wc, sc = rng.random(n), 10 * rng.random(n)
    scores = np.round(rng.random(n), 1)  # many ties
    first = evaluate_binary(scores, wq, sq, wc, sc)
    perm = rng.permutation(n)
    second = evaluate_binary(scores[perm], wq[perm], sq[perm], wc[perm], sc[perm])
    assert first.apgr == pytest.approx(second.apgr)
    assert first.cost_saving95 == pytest.approx(second.cost_saving95)


def test_oracle_point_is_weak_when_weak_was_right_else_strong():
    _, point = oracle_binary(*DATA)
    assert point.quality == pytest.approx(0.75)
    assert point.cost == pytest.approx(10 + 10 + 1 + 10)


def test_a_strong_model_no_better_than_the_weak_is_refused():
    with pytest.raises(ValueError, match="strong model must beat"):
        evaluate_binary([0.1, 0.2], [1, 1], [1, 1], [1, 1], [2, 2])


def test_three_way_choices_baselines_and_oracle():
    quality = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=float)
    cost = np.array([[1, 2, 10]] * 4, dtype=float)
    chosen = three_way([0, 1, 2, 0], quality, cost)
    assert (chosen.quality, chosen.cost) == (pytest.approx(0.75), pytest.approx(1 + 2 + 10 + 1))
    oracle = three_way_oracle(quality, cost)
    assert (oracle.quality, oracle.cost) == (pytest.approx(0.75), pytest.approx(1 + 2 + 10 + 1))
    mix = three_way_random([0, 0, 2, 2], quality, cost)
    assert mix.quality == pytest.approx(0.5 * 0.25 + 0.5 * 0.75)
    assert mix.cost == pytest.approx(0.5 * 4 + 0.5 * 40)


def test_spearman_with_ties():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(np.corrcoef([1.5, 1.5, 3.5, 3.5], [1, 2, 3, 4])[0, 1])
