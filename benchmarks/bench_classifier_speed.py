"""Speed of the learned classifier on one core: prints p50/p90/p99/max per prompt for classify() and
for classify() + the composite routing score, over a bounded number of calls on real prompts
(RouterBench, MATH-500) and synthetic ones (greeting, code, a 10,000-character multi-document request).

    python benchmarks/bench_classifier_speed.py [--data-dir ../shared/eval] [--calls 4000]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.core.config import ScoreWeights  # noqa: E402
from router.decision.learned_classifier import LearnedClassifier  # noqa: E402
from router.decision.scoring import routing_score  # noqa: E402
from router.evaluation.data import read_levelled, read_routerbench  # noqa: E402


def prompts(data_dir: Path) -> list[str]:
    out = ["hello!", "Write a python function to reverse a linked list.",
           "Summarize the following documents.\n" + "\n".join(
               f"Document {i}: " + "Quarterly revenue rose while costs fell in most regions. " * 34 for i in range(5))]
    train = data_dir / "routerbench" / "train.csv"
    if train.is_file():
        out += [r.prompt for r in read_routerbench(train)]
    math = data_dir / "math500" / "math500_with_level.jsonl"
    if math.is_file():
        out += [p.problem for p in read_levelled(math)]
    return out


def percentiles(samples_ns: list[int]) -> str:
    ms = np.array(samples_ns) / 1e6
    return (f"p50 {np.percentile(ms, 50):.3f} ms  p90 {np.percentile(ms, 90):.3f} ms  "
            f"p99 {np.percentile(ms, 99):.3f} ms  max {ms.max():.3f} ms  (n={len(ms)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    texts = prompts(args.data_dir)
    classifier, weights = LearnedClassifier(), ScoreWeights()
    for text in texts[:200]:  # warm up caches and regexes
        classifier.classify(text)
    rng = np.random.default_rng(0)
    order = rng.integers(0, len(texts), size=args.calls)
    lengths = np.array([len(texts[i]) for i in order])
    classify_ns, decision_ns = [], []
    for i in order:
        text = texts[i]
        t0 = time.perf_counter_ns()
        c = classifier.classify(text)
        t1 = time.perf_counter_ns()
        routing_score(c, weights)
        t2 = time.perf_counter_ns()
        classify_ns.append(t1 - t0)
        decision_ns.append(t2 - t0)
    print(f"{len(texts)} distinct prompts, median {int(np.median(lengths))} chars, max {lengths.max()} chars; "
          f"one core (pid {os.getpid()})")
    print(f"classify():                 {percentiles(classify_ns)}")
    print(f"classify() + routing_score: {percentiles(decision_ns)}")
    long_ns = []
    for _ in range(300):  # the longest input screening lets through (~10,000 characters)
        t0 = time.perf_counter_ns()
        classifier.classify(texts[2])
        long_ns.append(time.perf_counter_ns() - t0)
    print(f"classify() on a {len(texts[2])}-char multi-document prompt: {percentiles(long_ns)}")
    print("target: classifier p50 <= 5 ms (aim < 0.3 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
