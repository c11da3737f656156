"""How much APGR a RouterBench-style file leaves to a text-only router: cross-validated reference rows.

    python scripts/apgr_ceiling.py [--data ../shared/eval/routerbench/train.csv] [--folds 5]

Scores each row with signals a deployed router does NOT have, fitted on the other folds only, to
bound what predicting the weak model's failures from the prompt can reach:

* ``benchmark only``: each benchmark's failure rate in the training folds (the prompt's type);
* ``<model> failed``: nothing fitted, the score is whether that OTHER model (neither weak nor
  strong) got this very row wrong: what running a sibling model on the prompt would tell a router;
* ``other models' mean failure``: nothing fitted, the share of the other models that got the row wrong;
* ``other models' outcomes``: a logistic regression on whether each of the OTHER models answered this
  very row correctly, plus the benchmark. A text classifier can at best estimate these; it cannot
  know them.

If even the second row stays near a target, a text-only classifier will not reach it honestly.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.evaluation.data import (  # noqa: E402
    STRONG_MODEL,
    WEAK_MODEL,
    RoutingRecord,
    read_routerbench,
)
from router.evaluation.metrics import evaluate_binary, oracle_binary  # noqa: E402
from router.evaluation.routing import fold_ids  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "routerbench" / "train.csv"
PENALTY = 1e-3
NEWTON_STEPS = 25


def logistic(x: np.ndarray, y: np.ndarray, penalty: float = PENALTY) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method: [bias, weights...] (bias unpenalised)."""
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    ridge = penalty * len(x) * np.eye(a.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        hessian = a.T @ (a * (p * (1 - p))[:, None]) + ridge
        w -= np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), a.T @ (p - y) + ridge @ w)
    return w


def _design(records: Sequence[RoutingRecord], others: Sequence[str], benchmarks: Sequence[str],
            fill: np.ndarray) -> np.ndarray:
    outcomes = np.array([[r.quality.get(m, np.nan) for m in others] for r in records]).reshape(len(records), -1)
    outcomes = np.where(np.isnan(outcomes), fill, outcomes)
    onehot = np.array([[float(r.source == b) for b in benchmarks] for r in records]).reshape(len(records), -1)
    return np.hstack([outcomes, onehot])


def reference_scores(records: Sequence[RoutingRecord], folds: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold failure scores of the weak model for each reference row."""
    ids = fold_ids(len(records), folds, seed)
    fail = np.array([1.0 - r.quality[WEAK_MODEL] for r in records])
    others = sorted({m for r in records for m in r.quality} - {WEAK_MODEL, STRONG_MODEL})
    benchmarks = sorted({r.source for r in records})[1:]  # one left out: the bias stands for it
    scores = {"benchmark only": np.zeros(len(records)), "other models' outcomes": np.zeros(len(records))}
    for fold in range(folds):
        train = [r for r, f in zip(records, ids) if f != fold]
        test = [r for r, f in zip(records, ids) if f == fold]
        mask = ids == fold
        rates = {b: fail[~mask][[r.source == b for r in train]].mean() for b in {r.source for r in train}}
        base = fail[~mask].mean()
        scores["benchmark only"][mask] = [rates.get(r.source, base) for r in test]
        fill = np.array([np.nanmean([r.quality.get(m, np.nan) for r in train]) for m in others])
        w = logistic(_design(train, others, benchmarks, fill), fail[~mask])
        x = _design(test, others, benchmarks, fill)
        scores["other models' outcomes"][mask] = 1.0 / (1.0 + np.exp(-(w[0] + x @ w[1:])))
    return scores


def unfitted_scores(records: Sequence[RoutingRecord]) -> dict[str, np.ndarray]:
    """Failure scores read straight off the other models' outcomes; a row a model lacks gets that
    model's mean failure (the expectation, so it neither helps nor hurts the ranking)."""
    others = sorted({m for r in records for m in r.quality} - {WEAK_MODEL, STRONG_MODEL})
    failed = np.array([[1.0 - r.quality.get(m, np.nan) for m in others] for r in records])
    failed = np.where(np.isnan(failed), np.nanmean(failed, axis=0), failed)
    scores = {f"{m} failed": failed[:, j] for j, m in enumerate(others)}
    scores["other models' mean failure"] = failed.mean(axis=1)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RouterBench-style CSV")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    records = read_routerbench(args.data)
    columns = [np.array([r.quality[WEAK_MODEL] for r in records]), np.array([r.quality[STRONG_MODEL] for r in records]),
               np.array([r.cost[WEAK_MODEL] for r in records]), np.array([r.cost[STRONG_MODEL] for r in records])]
    print(f"rows: {len(records)}   {args.folds}-fold cross-validation   (random routing: APGR 0.500)")
    print(f"{'reference (not available to a router)':<48}{'APGR':>8}{'CPT(95%)':>10}{'saving@95%':>12}")
    for name, score in {**unfitted_scores(records), **reference_scores(records, args.folds)}.items():
        r = evaluate_binary(score, *columns)
        print(f"{name:<48}{r.apgr:>8.3f}{r.cpt95:>10.1%}{r.cost_saving95:>12.1%}")
    oracle, _ = oracle_binary(*columns)
    print(f"{'oracle ranking':<48}{oracle.apgr:>8.3f}{oracle.cpt95:>10.1%}{oracle.cost_saving95:>12.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
