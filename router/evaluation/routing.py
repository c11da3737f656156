"""Scoring the router's routing score on labelled data: classification (cross-validated when the
shipped classifier was calibrated on the same file), the README metrics and the baselines.

The routing score is the dispatcher's: ``router.decision.scoring.routing_score`` of the learned classifier's
``Classification`` under the config's weights. The three-way policy is the classifier's own tier:
recommended tiers 1-2 go to the weak model (the local tiers), Tier 3 to the local strong model, or to
the cloud one when the routing score reaches ``cloud_at``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from router.core.config import RouterConfig
from router.decision.classification import Classification
from router.decision.learned_classifier import (
    LearnedClassifier,
    shipped_params,
)
from router.decision.scoring import routing_score
from router.evaluation.data import (
    LOCAL_STRONG_MODEL,
    STRONG_MODEL,
    WEAK_MODEL,
    LevelledProblem,
    RoutingRecord,
)
from router.evaluation.fitting import fit
from router.evaluation.metrics import (
    BinaryResult,
    Point,
    evaluate_binary,
    fixed_point,
    oracle_binary,
    random_binary,
    spearman,
    three_way,
    three_way_oracle,
    three_way_random,
)

DEFAULT_CLOUD_AT = 0.6
Progress = Callable[[int], None]


@dataclass
class ThreeWay:
    router: Point
    shares: tuple[float, float, float]  # weak, local strong, cloud strong
    baselines: dict[str, Point]


@dataclass
class RouterReport:
    rows: int
    mode: str  # "5-fold cross-validation" or "shipped parameters"
    router: BinaryResult
    fold_apgr: list[float]
    baselines: dict[str, Point]
    random: BinaryResult
    oracle: BinaryResult
    three_way: ThreeWay | None
    scores: np.ndarray = field(repr=False)


def fold_ids(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """Fold of each row: a seeded permutation cut into ``folds`` near-equal parts (deterministic)."""
    if not 2 <= folds <= n:
        raise ValueError(f"folds must be between 2 and the number of rows ({n}), got {folds}")
    ids = np.empty(n, dtype=int)
    for fold, part in enumerate(np.array_split(np.random.default_rng(seed).permutation(n), folds)):
        ids[part] = fold
    return ids


def classify_records(
    records: Sequence[RoutingRecord], config: RouterConfig, *, folds: int | None, progress: Progress | None = None,
) -> tuple[list[Classification], np.ndarray | None]:
    """Classifications of every record: by the shipped classifier or, with ``folds``, each fold's
    rows by a classifier fitted on the other folds."""
    out: list[Classification | None] = [None] * len(records)
    if folds is None:
        classifier = LearnedClassifier(shipped_params(), config.thresholds)
        for i, record in enumerate(records):
            out[i] = classifier.classify(record.prompt)
            if progress:
                progress(1)
        return out, None  # type: ignore[return-value]
    ids = fold_ids(len(records), folds)
    for fold in range(folds):
        train = [r for r, f in zip(records, ids) if f != fold]
        classifier = LearnedClassifier(fit(train), config.thresholds)
        for i in np.nonzero(ids == fold)[0]:
            out[i] = classifier.classify(records[i].prompt)
            if progress:
                progress(1)
    return out, ids  # type: ignore[return-value]


def _columns(records: Sequence[RoutingRecord], model: str) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r.quality[model] for r in records]), np.array([r.cost[model] for r in records])


def report(
    records: Sequence[RoutingRecord], classifications: Sequence[Classification], config: RouterConfig, *,
    ids: np.ndarray | None = None, cloud_at: float = DEFAULT_CLOUD_AT,
) -> RouterReport:
    scores = np.array([routing_score(c, config.weights) for c in classifications])
    wq, wc = _columns(records, WEAK_MODEL)
    sq, sc = _columns(records, STRONG_MODEL)
    result = evaluate_binary(scores, wq, sq, wc, sc)
    fold_apgr = []
    if ids is not None:
        for fold in range(int(ids.max()) + 1):
            m = ids == fold
            fold_apgr.append(evaluate_binary(scores[m], wq[m], sq[m], wc[m], sc[m]).apgr)
    oracle, oracle_point = oracle_binary(wq, sq, wc, sc)
    baselines = {"all-weak": fixed_point(wq, wc), "all-strong": fixed_point(sq, sc), "oracle": oracle_point}
    three = None
    if all(LOCAL_STRONG_MODEL in r.quality for r in records):
        lq, lc = _columns(records, LOCAL_STRONG_MODEL)
        quality, cost = np.column_stack([wq, lq, sq]), np.column_stack([wc, lc, sc])
        tiers = np.array([c.recommended_tier for c in classifications])
        choice = np.where(tiers < 3, 0, np.where(scores >= cloud_at, 2, 1))
        three = ThreeWay(
            router=three_way(choice, quality, cost),
            shares=tuple(float(x) for x in np.bincount(choice, minlength=3) / len(choice)),  # type: ignore[arg-type]
            baselines={"all-weak": fixed_point(wq, wc), "all-local": fixed_point(lq, lc),
                       "all-cloud": fixed_point(sq, sc), "random (same mix)": three_way_random(choice, quality, cost),
                       "oracle": three_way_oracle(quality, cost)})
    return RouterReport(
        rows=len(records), mode=f"{int(ids.max()) + 1}-fold cross-validation" if ids is not None else "shipped parameters",
        router=result, fold_apgr=fold_apgr, baselines=baselines, random=random_binary(wq, sq, wc, sc), oracle=oracle,
        three_way=three, scores=scores)


def format_report(r: RouterReport) -> str:
    folds = ""
    if r.fold_apgr:
        folds = f"  (folds: mean {np.mean(r.fold_apgr):.3f} ± {np.std(r.fold_apgr):.3f})"
    lines = [
        f"rows: {r.rows}   classifier: {r.mode}",
        f"binary form: weak = {WEAK_MODEL}, strong = {STRONG_MODEL}",
        f"{'router':<22}{'APGR':>8}{'CPT(95%)':>10}{'saving@95%':>12}",
        f"{'learned router':<22}{r.router.apgr:>8.3f}{r.router.cpt95:>10.1%}{r.router.cost_saving95:>12.1%}{folds}",
        f"{'random (expectation)':<22}{r.random.apgr:>8.3f}{r.random.cpt95:>10.1%}{r.random.cost_saving95:>12.1%}",
        f"{'oracle ranking':<22}{r.oracle.apgr:>8.3f}{r.oracle.cpt95:>10.1%}{r.oracle.cost_saving95:>12.1%}",
        "",
        f"{'policy':<22}{'quality':>8}{'cost USD':>12}",
    ]
    lines += [f"{name:<22}{p.quality:>8.3f}{p.cost:>12.4f}" for name, p in r.baselines.items()]
    if r.three_way:
        t = r.three_way
        lines += ["", f"three-way form: tiers 1-2 -> {WEAK_MODEL}, Tier 3 local -> {LOCAL_STRONG_MODEL}, "
                      f"Tier 3 cloud -> {STRONG_MODEL}",
                  f"{'policy':<22}{'quality':>8}{'cost USD':>12}",
                  f"{'learned router':<22}{t.router.quality:>8.3f}{t.router.cost:>12.4f}"
                  f"  (shares weak/local/cloud: {t.shares[0]:.0%}/{t.shares[1]:.0%}/{t.shares[2]:.0%})"]
        lines += [f"{name:<22}{p.quality:>8.3f}{p.cost:>12.4f}" for name, p in t.baselines.items()]
    return "\n".join(lines)


def level_correlation(problems: Sequence[LevelledProblem], classifier: LearnedClassifier) -> tuple[float, dict[int, float]]:
    """Spearman of complexity with level, and mean complexity per level."""
    complexity = np.array([classifier.classify(p.problem).complexity_score for p in problems])
    levels = np.array([p.level for p in problems])
    means = {int(lv): float(complexity[levels == lv].mean()) for lv in sorted(set(levels.tolist()))}
    return spearman(complexity, levels), means
