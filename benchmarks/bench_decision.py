"""Latency of the routing decision without a model call, on one CPU core.

Covers screening, Tier 0 matching, hints and bounds, the learned classifier, the composite score
and the provider choice: ``Dispatcher.route(..., use_models=False)``. Prompts are RouterBench's
(../shared/eval), cycled; the loop is bounded by count and time.

    python -m benchmarks.bench_decision [--n 3000] [--seconds 60]
"""

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from router.core.api import ChatCompletionRequest
from router.core.config import RouterConfig
from router.decision.classification import load_classifier
from router.evaluation.data import read_routerbench
from router.evaluation.offline import offline_dispatcher

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routerbench" / "train.csv"


def prompts(limit: int) -> list[str]:
    return [r.prompt[-9000:] for r in read_routerbench(DATA)[:limit]]  # under the 10,000-character screen


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(n: int, seconds: float) -> None:
    classifier = load_classifier("learned")
    dispatcher = offline_dispatcher(RouterConfig(), classifier)
    texts = prompts(500)
    requests = [ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": t}]}) for t in texts]
    for request in requests[:50]:  # warm caches and imports
        await dispatcher.route(request, "warm", use_models=False)
    timings = []
    deadline = time.perf_counter() + seconds
    for i in range(n):
        if time.perf_counter() > deadline:
            break
        request = requests[i % len(requests)]
        started = time.perf_counter()
        await dispatcher.route(request, f"r{i}", use_models=False)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"classifier: {'learned' if classifier else 'none installed'}; decisions measured: {len(timings)}")
    print(f"decision (screen + tier 0 + classifier + score + provider) ms: p50 {statistics.median(timings):.3f}  "
          f"p99 {percentile(timings, 0.99):.3f}  mean {statistics.fmean(timings):.3f}")
    print("(the learned classifier alone: benchmarks/bench_classifier_speed.py)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    asyncio.run(measure(args.n, args.seconds))


if __name__ == "__main__":
    main()
