"""What the telemetry costs a request: the same application twice, telemetry (the routing_decisions row, its
batched writer, the Prometheus series) on in one and off in the other, requests alternating between them in
one run, so both see the same machine load.

Both are the real application composed in Serve's local testing mode (real handles, the real ingress, the
dispatcher and the outcome sinks) answering at Tier 1 from a fake OpenAI-compatible upstream over loopback
HTTP, so the figure is the router's own work plus one local HTTP call. The writer's database work runs on its
own thread during the run, as it does in service, and its cost shows up in the "on" latencies. Bounded by
count and time. Also printed: the rows written, and the cost of the sinks alone per outcome.

    python -m benchmarks.bench_telemetry [--n 2000] [--seconds 120]
"""

import argparse
import asyncio
import statistics
import time
from decimal import Decimal

from ray import serve

from deployments.app import build_app
from deployments.metrics import ServeMetricFactory
from router.core.api import RoutingDecision
from router.core.generation import Usage
from router.core.telemetry_settings import TelemetryConfig
from router.outcomes.outcome import RequestOutcome
from router.storage.database import Database
from router.storage.telemetry import TelemetryStore
from router.telemetry.metrics import RouterMetrics
from router.telemetry.writer import TelemetryWriter
from tests.configs import router_config
from tests.fakes.openai_upstream import FakeUpstream


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name:<14} n={len(ms):>5}  p50 {pct(ms, 0.5):7.3f} ms  p90 {pct(ms, 0.9):7.3f} ms  "
            f"p99 {pct(ms, 0.99):7.3f} ms  mean {statistics.fmean(ms):7.3f} ms")


def end_to_end(n: int, seconds: float) -> None:
    upstream = FakeUpstream(name="bench").start()
    try:
        handles, urls = {}, {}
        for name, on in (("telemetry-on", True), ("telemetry-off", False)):
            config = router_config(micro_url=upstream.base_url)
            config["telemetry"] = {"enabled": on, "metrics": on}
            urls[name] = config["access"]["database_url"]
            handles[name] = serve.run(build_app({"router_config": config}), name=name, route_prefix=None,
                                      _local_testing_mode=True)
        body = {"model": "router", "messages": [{"role": "user", "content": "what is ray serve?"}],
                "router": {"preferred_tier": 1}}
        for handle in handles.values():  # warm both: connections, classifier, first rows
            for _ in range(20):
                handle.generate.remote(body).result()
        times: dict[str, list[float]] = {name: [] for name in handles}
        deadline = time.monotonic() + seconds
        for i in range(n):
            if time.monotonic() > deadline:
                break
            for name in (("telemetry-on", "telemetry-off") if i % 2 == 0 else ("telemetry-off", "telemetry-on")):
                started = time.perf_counter()
                handles[name].generate.remote(body).result()
                times[name].append((time.perf_counter() - started) * 1000.0)
        on, off = times["telemetry-on"], times["telemetry-off"]
        print("end to end through the composed app (Tier 1 answer from a loopback upstream):")
        print(summary("telemetry on", on))
        print(summary("telemetry off", off))
        print(f"added by telemetry: p50 {pct(on, 0.5) - pct(off, 0.5):+.3f} ms, "
              f"mean {statistics.fmean(on) - statistics.fmean(off):+.3f} ms per request")
        handles["telemetry-on"].stats.remote({}).result()  # flushes the queue
        rows = len(TelemetryStore(Database(urls["telemetry-on"])).decisions())
        print(f"rows written with telemetry on: {rows} (requests sent there: {len(on) + 20})")
    finally:
        upstream.stop()


async def sinks_alone(n: int) -> None:
    """The hot-path part only: building the row and queueing it, and the metric updates."""
    import tempfile

    folder = tempfile.mkdtemp()
    writer = TelemetryWriter(TelemetryStore(Database(f"sqlite:///{folder}/t.db")),
                             TelemetryConfig(batch_size=200, flush_interval_s=60, max_queue=n + 1))
    series = RouterMetrics(ServeMetricFactory())  # the real ray.serve.metrics objects
    outcome = RequestOutcome(
        request_id="r", workspace_id="w", channel="http", operation="chat", status="answered",
        decision=RoutingDecision(request_id="r", tier=2, tier_name="light", routing_score=0.3,
                                 classification={"confidence": 0.9, "complexity_score": 0.2},
                                 tier_latency_ms={2: 12.0}),
        tier=2, tier_path=[2], provider="light", usage=Usage(prompt_tokens=100, completion_tokens=50),
        cost_usd=Decimal("0.0001"), latency_s=0.02)
    for name, sink in (("row + queue", writer), ("metric updates", series)):
        started = time.perf_counter()
        for _ in range(n):
            await sink.record(outcome)
        per = (time.perf_counter() - started) / n * 1e6
        print(f"{name:<16} {per:7.1f} us per outcome (n={n})")
    started = time.perf_counter()
    written = await writer.flush()
    print(f"batched write    {(time.perf_counter() - started) / max(written, 1) * 1e6:7.1f} us per row "
          f"({written} rows, batches of 200, off the request's path)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="requests per variant (bounded)")
    parser.add_argument("--seconds", type=float, default=120.0, help="time bound of the end-to-end loop")
    args = parser.parse_args()
    asyncio.run(sinks_alone(min(args.n * 5, 20000)))
    end_to_end(args.n, args.seconds)


if __name__ == "__main__":
    main()
