"""Offline routing metrics, exactly as ``shared/eval/README.md`` defines them (numpy only).

Binary form: a weak model stands for the local tiers and a strong one for the frontier; sending the
top fraction f of prompts by routing score to the strong model gives quality(f) and cost(f).

* PGR(f) = (quality(f) - q_weak) / (q_strong - q_weak); APGR = area under PGR(f) on f in [0, 1],
  by the trapezoid rule over the N + 1 points f = k / N.
* CPT(95%) = the smallest f with quality(f) >= 0.95 * q_strong; cost saving at 95% =
  1 - cost(f) / cost(all strong) at that f.

Ties in the score are scored in expectation over their order (each prompt of a tied group counts its
group's mean), so a constant scorer is exactly random routing (APGR 0.5) and the result does not
depend on row order.

Three-way form: every prompt goes to one of weak / local strong / cloud strong; the router's own
choices are scored by mean quality and total cost, beside all-of-each, a random router with the same
mix and the oracle (the cheapest model that was right; the cheapest of all when none was).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TARGET_SHARE = 0.95


@dataclass(frozen=True)
class Curve:
    """quality(f) and cost(f) (total USD) at f = k / N, k = 0..N."""

    fraction: np.ndarray
    quality: np.ndarray
    cost: np.ndarray


@dataclass(frozen=True)
class BinaryResult:
    apgr: float
    cpt95: float
    cost_saving95: float
    curve: Curve


@dataclass(frozen=True)
class Point:
    """One fixed policy: mean quality and total cost."""

    quality: float
    cost: float


def _tie_mean(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Replace each value by the mean of its tie group (``group`` holds consecutive group ids)."""
    sums = np.bincount(group, weights=values)
    counts = np.bincount(group)
    return (sums / counts)[group]


def routing_curve(
    scores: Sequence[float], weak_q: Sequence[float], strong_q: Sequence[float],
    weak_cost: Sequence[float], strong_cost: Sequence[float],
) -> Curve:
    s = np.asarray(scores, dtype=float)
    wq, sq = np.asarray(weak_q, dtype=float), np.asarray(strong_q, dtype=float)
    wc, sc = np.asarray(weak_cost, dtype=float), np.asarray(strong_cost, dtype=float)
    n = len(s)
    if n == 0 or not (len(wq) == len(sq) == len(wc) == len(sc) == n):
        raise ValueError("scores, qualities and costs must be non-empty and of the same length")
    order = np.argsort(-s, kind="stable")
    sorted_scores = s[order]
    group = np.concatenate([[0], np.cumsum(sorted_scores[1:] != sorted_scores[:-1])])
    quality_gain = _tie_mean((sq - wq)[order], group)
    cost_gain = _tie_mean((sc - wc)[order], group)
    k = np.arange(n + 1)
    quality = (wq.sum() + np.concatenate([[0.0], np.cumsum(quality_gain)])) / n
    cost = wc.sum() + np.concatenate([[0.0], np.cumsum(cost_gain)])
    return Curve(fraction=k / n, quality=quality, cost=cost)


def summarise(curve: Curve, q_weak: float, q_strong: float, target: float = TARGET_SHARE) -> BinaryResult:
    gap = q_strong - q_weak
    if gap <= 0:
        raise ValueError(f"the strong model must beat the weak one on this data (q_weak={q_weak:.3f}, "
                         f"q_strong={q_strong:.3f}); APGR is undefined otherwise")
    pgr = (curve.quality - q_weak) / gap
    apgr = float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(curve.fraction)))
    reached = np.nonzero(curve.quality >= target * q_strong - 1e-12)[0]
    at = int(reached[0])  # f = 1 always qualifies: quality(1) = q_strong
    return BinaryResult(apgr=apgr, cpt95=float(curve.fraction[at]),
                        cost_saving95=float(1.0 - curve.cost[at] / curve.cost[-1]), curve=curve)


def evaluate_binary(
    scores: Sequence[float], weak_q: Sequence[float], strong_q: Sequence[float],
    weak_cost: Sequence[float], strong_cost: Sequence[float], target: float = TARGET_SHARE,
) -> BinaryResult:
    curve = routing_curve(scores, weak_q, strong_q, weak_cost, strong_cost)
    return summarise(curve, float(np.mean(weak_q)), float(np.mean(strong_q)), target)


def random_binary(
    weak_q: Sequence[float], strong_q: Sequence[float], weak_cost: Sequence[float], strong_cost: Sequence[float],
    target: float = TARGET_SHARE,
) -> BinaryResult:
    """Random routing in expectation: every prompt tied, i.e. a straight line from all-weak to all-strong."""
    return evaluate_binary(np.zeros(len(weak_q)), weak_q, strong_q, weak_cost, strong_cost, target)


def oracle_binary(
    weak_q: Sequence[float], strong_q: Sequence[float], weak_cost: Sequence[float], strong_cost: Sequence[float],
    target: float = TARGET_SHARE,
) -> tuple[BinaryResult, Point]:
    """The perfect ranking (prompts the strong model alone gets right first) and the oracle's own
    choice: weak when the weak model was right, else strong."""
    wq, sq = np.asarray(weak_q, dtype=float), np.asarray(strong_q, dtype=float)
    wc, sc = np.asarray(weak_cost, dtype=float), np.asarray(strong_cost, dtype=float)
    result = evaluate_binary(sq - wq, wq, sq, wc, sc, target)
    use_weak = wq >= 1.0
    return result, Point(quality=float(np.where(use_weak, wq, sq).mean()), cost=float(np.where(use_weak, wc, sc).sum()))


def fixed_point(quality: Sequence[float], cost: Sequence[float]) -> Point:
    return Point(quality=float(np.mean(quality)), cost=float(np.sum(cost)))


def three_way(choice: Sequence[int], quality: np.ndarray, cost: np.ndarray) -> Point:
    """``quality``/``cost``: n x 3 (weak, local strong, cloud strong); ``choice``: 0, 1 or 2 per prompt."""
    c = np.asarray(choice, dtype=int)
    rows = np.arange(len(c))
    return Point(quality=float(quality[rows, c].mean()), cost=float(cost[rows, c].sum()))


def three_way_random(choice: Sequence[int], quality: np.ndarray, cost: np.ndarray) -> Point:
    """A router that picks each model with the same shares as ``choice``, at random (expectation)."""
    share = np.bincount(np.asarray(choice, dtype=int), minlength=3) / len(choice)
    return Point(quality=float(quality.mean(axis=0) @ share), cost=float(cost.sum(axis=0) @ share))


def three_way_oracle(quality: np.ndarray, cost: np.ndarray) -> Point:
    """The cheapest model that was right; when none was, the cheapest model."""
    ranked = np.where(quality >= 1.0, cost, np.inf)
    best = np.argmin(ranked, axis=1)
    best = np.where(np.isinf(ranked.min(axis=1)), np.argmin(cost, axis=1), best)
    return three_way(best, quality, cost)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation with average ranks for ties."""
    return float(np.corrcoef(_average_ranks(np.asarray(a, float)), _average_ranks(np.asarray(b, float)))[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    group = np.concatenate([[0], np.cumsum(sorted_x[1:] != sorted_x[:-1])])
    ranks = np.empty(len(x))
    ranks[order] = _tie_mean(np.arange(len(x), dtype=float), group)
    return ranks
