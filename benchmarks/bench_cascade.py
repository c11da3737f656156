"""The cascade on the shared RouterBench train files: k-fold APGR, CPT(95%) and cost saving at 95% for each
second opinion (every local call counted), and the time the comparison plus the escalation score take per
request on one core (p50/p99/max over every train prompt, bounded by --calls).

    python benchmarks/bench_cascade.py [--data-dir ../shared/eval/routerbench] [--folds 5] [--calls 6000]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.cascade.compare import Candidate, compare  # noqa: E402
from router.cascade.score import EscalationScorer  # noqa: E402
from router.core.config import RouterConfig  # noqa: E402
from router.evaluation.cascade import (  # noqa: E402
    cascade_report,
    format_cascade_report,
    out_of_fold_routing_scores,
    read_answers,
)
from router.evaluation.data import WEAK_MODEL, read_routerbench  # noqa: E402

TARGETS = {"mistralai/mixtral-8x7b-chat": 0.74, "meta/llama-2-70b-chat": 0.64, "zero-one-ai/Yi-34B-Chat": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "eval" / "routerbench")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=6000, help="timed comparisons at most")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    records = read_routerbench(args.data_dir / "train.csv")
    answers = read_answers(args.data_dir / "train_answers.csv")
    routing = out_of_fold_routing_scores(records, RouterConfig(), args.folds)  # fitted once for all three
    for second, target in TARGETS.items():
        report = cascade_report(records, answers, second, config=RouterConfig(), folds=args.folds, routing=routing)
        print(format_cascade_report(report))
        if target is not None:
            verdict = "met" if report.cascade.apgr >= target else "NOT met"
            print(f"target APGR >= {target}: {verdict}; cost saving at 95% >= 40%: "
                  f"{'met' if report.cascade.cost_saving95 >= 0.40 else 'NOT met'}")
        print()
    scorer = EscalationScorer()
    seconds = list(TARGETS)
    timings = []
    for i in range(min(args.calls, len(records) * len(seconds))):
        record, second = records[i % len(records)], seconds[i // len(records) % len(seconds)]
        given = answers[record.sample_id]
        started = time.perf_counter()
        comparison = compare(record.prompt, [Candidate("local", given[WEAK_MODEL]), Candidate("second", given[second])])
        scorer.score(comparison, 0.5, record.prompt)
        timings.append(time.perf_counter() - started)
    ms = np.array(timings) * 1000
    print(f"comparison + escalation score, one core, {len(ms)} requests: p50 {np.percentile(ms, 50):.3f} ms, "
          f"p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.2f} ms (targets: p50 <= 1 ms, p99 <= 5 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
