"""Latency of the routing decision without a model call, on one CPU core.

Covers screening, Tier 0 matching, hints and bounds, the learned classifier, the composite score
(``Dispatcher.route(..., use_models=False)``) and, for every request that lands at Tier 3, the provider
choice the frontier pool makes per request (``FrontierLedger.plan``: requirements, strategy order, prices,
cache-aware estimates and the per-request cap) over a three-provider pool. Prompts are RouterBench's
(../shared/eval), cycled; the loop is bounded by count and time.

    python -m benchmarks.bench_decision [--n 3000] [--seconds 60]
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from router.core.api import ChatCompletionRequest
from router.core.config import RouterConfig, parse_config
from router.decision.classification import load_classifier
from router.evaluation.data import read_routerbench
from router.evaluation.offline import offline_dispatcher
from router.frontier.keys import ProviderKeyStore, generate_master_key, load_cipher
from router.frontier.ledger import FrontierLedger
from router.storage.database import Database
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routerbench" / "train.csv"


def prompts(limit: int) -> list[str]:
    return [r.prompt[-9000:] for r in read_routerbench(DATA)[:limit]]  # under the 10,000-character screen


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


POOL = [
    {"name": "dgx-70b", "model": "llama-3.3-70b", "base_url": "http://dgx:8000/v1", "quality": 0.85,
     "max_context": 32768, "tags": ["local", "dgx"]},
    {"name": "cloud-mini", "engine": "openai", "model": "gpt-4o-mini", "quality": 0.8, "max_context": 128000,
     "tags": ["cloud"]},
    {"name": "cloud-large", "engine": "anthropic", "model": "claude-3-5-sonnet-latest", "quality": 0.95,
     "max_context": 200000, "tags": ["cloud"]},
]


def frontier_ledger(config: RouterConfig, folder: str) -> tuple[FrontierLedger, object]:
    db = Database(f"sqlite:///{folder}/bench.db")
    keys = ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY": generate_master_key()}),
                            environ={"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    workspace = WorkspaceStore(db).create("bench", WorkspaceSettings(max_cost_per_request_usd="5")).workspace
    return FrontierLedger(config.frontier, db, keys), workspace


async def measure(n: int, seconds: float) -> None:
    classifier = load_classifier("learned")
    config = parse_config({"frontier": {"strategy": "cheapest_qualified", "providers": POOL}})
    dispatcher = offline_dispatcher(config, classifier)
    folder = tempfile.mkdtemp(prefix="bench-decision-")
    ledger, workspace = frontier_ledger(config, folder)
    texts = prompts(500)
    requests = [ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": t}]}) for t in texts]
    for request in requests[:50]:  # warm caches and imports
        await dispatcher.route(request, "warm", use_models=False)
    timings, frontier_timings, chosen = [], [], {}
    deadline = time.perf_counter() + seconds
    for i in range(n):
        if time.perf_counter() > deadline:
            break
        request = requests[i % len(requests)]
        started = time.perf_counter()
        decision = await dispatcher.route(request, f"r{i}", use_models=False)
        if decision.tier == 3:  # the pool's choice for this request, as it makes it before admitting
            plan = ledger.plan(workspace, request.plain_messages(), max_tokens=config.tiers.frontier.max_tokens)
            name = plan.candidates[0].provider.name if plan.candidates else None
            chosen[name] = chosen.get(name, 0) + 1
        elapsed = (time.perf_counter() - started) * 1000
        timings.append(elapsed)
        if decision.tier == 3:
            frontier_timings.append(elapsed)
    print(f"classifier: {'learned' if classifier else 'none installed'}; decisions measured: {len(timings)}; "
          f"at tier 3: {len(frontier_timings)}, providers chosen: {chosen}")
    print(f"decision (screen + tier 0 + classifier + score + provider) ms: p50 {statistics.median(timings):.3f}  "
          f"p99 {percentile(timings, 0.99):.3f}  mean {statistics.fmean(timings):.3f}")
    if frontier_timings:
        print(f"  of which tier 3 decisions (with the pool's provider plan) ms: "
              f"p50 {statistics.median(frontier_timings):.3f}  p99 {percentile(frontier_timings, 0.99):.3f}")
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
