"""Routing quality of the learned classifier: prints APGR (5-fold CV on the RouterBench calibration
file, per fold and pooled), CPT(95%), cost saving, the three-way form, the baselines, and the Spearman
correlation of complexity with MATH-500 level (shipped parameters; MATH-500 is never fitted).

    python benchmarks/bench_routing_quality.py [--data-dir ../shared/eval] [--folds 5]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.core.config import RouterConfig  # noqa: E402
from router.decision.learned_classifier import LearnedClassifier  # noqa: E402
from router.evaluation.data import read_levelled, read_routerbench  # noqa: E402
from router.evaluation.routing import (  # noqa: E402
    classify_records,
    format_report,
    level_correlation,
    report,
)

TARGET_APGR, TARGET_SPEARMAN = 0.60, 0.30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    config = RouterConfig()

    started = time.perf_counter()
    records = read_routerbench(args.data_dir / "routerbench" / "train.csv")
    classifications, ids = classify_records(records, config, folds=args.folds)
    result = report(records, classifications, config, ids=ids)
    print(format_report(result))
    folds = np.array(result.fold_apgr)
    print(f"\nAPGR per fold: {', '.join(f'{a:.3f}' for a in folds)}")
    print(f"APGR {args.folds}-fold CV: mean {folds.mean():.3f} ± {folds.std():.3f} (sd across folds); "
          f"pooled {result.router.apgr:.3f}; target >= {TARGET_APGR:.2f}: "
          f"{'met' if folds.mean() >= TARGET_APGR else 'NOT met'}")
    for source in sorted({r.source for r in records}):
        mask = np.array([r.source == source for r in records])
        subset = [r for r, m in zip(records, mask) if m]
        sub = report(subset, [c for c, m in zip(classifications, mask) if m], config)
        print(f"  within {source:<14} APGR {sub.router.apgr:.3f} ({len(subset)} rows)")

    problems = read_levelled(args.data_dir / "math500" / "math500_with_level.jsonl")
    rho, means = level_correlation(problems, LearnedClassifier())
    print(f"\nMATH-500 ({len(problems)} problems): Spearman(complexity, level) = {rho:.3f}; target >= "
          f"{TARGET_SPEARMAN:.2f}: {'met' if rho >= TARGET_SPEARMAN else 'NOT met'}")
    print("  mean complexity by level: " + ", ".join(f"{lv}: {m:.3f}" for lv, m in means.items()))
    print("  (in-sample: MATH_DIFFICULTY_SLOPE was set by hand while looking at MATH-500, so this is not a "
          "held-out figure)")
    print(f"\n({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
