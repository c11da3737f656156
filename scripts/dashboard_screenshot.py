"""Render the routing dashboard to a PNG (the README's picture), from a real router fed with real traffic.

    .venv/bin/python scripts/dashboard_screenshot.py [--output docs/dashboard.png] [--requests 300]
                                                     [--since 15m] [--size 1400,2100] [--spread-s 0]

Starts a local Ray with Serve on a free loopback port, deploys the router over fake OpenAI-compatible
upstreams (tests/fakes: micro, light and two frontier providers; no model, no key, no network), sends a
mix of requests over HTTP (Tier 0 commands, caller tier hints, ``model: tier-3``; for a stretch the micro
upstream and one frontier provider fail, so some requests escalate or fail over), posts caller feedback on
some answers, then has headless Chromium load /dashboard and write the screenshot. Everything it started
is shut down at the end. Needs the ``chromium`` binary (scripts/setup-test-deps.sh installs it).
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.configs import provider, router_config  # noqa: E402
from tests.fakes.openai_upstream import FakeUpstream, free_port  # noqa: E402

APP = "dashboard-screenshot"
TOPICS = ("ray serve autoscaling", "a SQL index", "the CAP theorem", "python asyncio", "a budget hold",
          "vLLM paged attention", "a Bloom filter", "TLS handshakes", "a B-tree split", "rate limiting")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "dashboard.png"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--since", default="15m", help="the dashboard's window (a span such as 15m or 1h)")
    parser.add_argument("--size", default="1400,2100", help="the browser window, width,height")
    parser.add_argument("--spread-s", type=float, default=0.0,
                        help="pace the requests over this many seconds, so the timeline has more than one bar")
    return parser.parse_args()


def request_body(rng: random.Random, i: int) -> dict:
    topic = rng.choice(TOPICS)
    roll = rng.random()
    if roll < 0.12:
        return {"model": "router", "messages": [{"role": "user", "content": f"/cert az-{100 + rng.randrange(5)}"}]}
    if roll < 0.20:
        return {"model": "tier-3", "messages": [{"role": "user", "content": f"design review {i}: {topic}"}]}
    tier = rng.choices((1, 2, 3), weights=(45, 35, 12))[0]
    return {"model": "router", "messages": [{"role": "user", "content": f"question {i}: explain {topic}"}],
            "router": {"preferred_tier": tier}}


def send_traffic(base: str, count: int, spread_s: float, micro: FakeUpstream, frontier: FakeUpstream
                 ) -> tuple[int, int]:
    """Returns (answered, feedback posted)."""
    import httpx

    rng = random.Random(20261203)
    answered = feedback = 0
    begun = time.monotonic()
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(count):
            wait = begun + spread_s * i / count - time.monotonic()  # pacing only: nothing waits on a result
            if wait > 0:
                time.sleep(wait)
            # A stretch of trouble: the micro tier fails (requests escalate), then the preferred frontier
            # provider does (the pool fails over to the other one).
            micro.mode = "status:503" if count * 0.30 <= i < count * 0.40 else "ok"
            frontier.mode = "status:500" if count * 0.55 <= i < count * 0.65 else "ok"
            reply = client.post("/v1/chat/completions", json=request_body(rng, i))
            if reply.status_code != 200:
                continue
            answered += 1
            body = reply.json()
            tier = (body.get("router") or {}).get("tier")
            if tier in (1, 2, 3) and rng.random() < 0.25:
                good_odds = {1: 0.6, 2: 0.8, 3: 0.95}[tier]
                outcome = "good" if rng.random() < good_odds else "bad"
                posted = client.post("/v1/feedback", json={"request_id": body["id"], "outcome": outcome})
                feedback += posted.status_code == 201
    return answered, feedback


def screenshot(chromium: str, url: str, output: Path, size: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dashboard-chromium-") as profile:
        # The virtual-time budget covers the page's fetch and drawing, short of its 10 s refresh.
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                        f"--window-size={size}", f"--screenshot={output}", url],
                       check=True, capture_output=True, timeout=120)


def main() -> int:
    args = parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("dashboard_screenshot: no chromium on PATH; run scripts/setup-test-deps.sh", file=sys.stderr)
        return 1
    from deployments.cli import SERVE_ENV

    for key, value in SERVE_ENV.items():  # as `tiered-router serve` runs, set before Ray starts
        os.environ.setdefault(key, value)
    import ray
    from ray import serve

    from deployments.app import build_app

    folder = Path(tempfile.mkdtemp(prefix="dashboard-screenshot-"))
    upstreams = {name: FakeUpstream(name=name).start() for name in ("micro", "light", "cloud", "anthropic")}
    config = router_config(
        micro_url=upstreams["micro"].base_url, light_url=upstreams["light"].base_url,
        providers=[provider("cloud", upstreams["cloud"].base_url, quality=0.9, cost_in=0.0025, cost_out=0.01),
                   provider("anthropic", upstreams["anthropic"].base_url, quality=0.95, cost_in=0.003,
                            cost_out=0.015)],
        database_url=f"sqlite:///{folder / 'router.db'}")
    started = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app({"router_config": config, "replica_cpus": 0}), name=APP, route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        answered, feedback = send_traffic(base, args.requests, args.spread_s, upstreams["micro"],
                                          upstreams["anthropic"])
        print(f"dashboard_screenshot: {args.requests} requests sent, {answered} answered, {feedback} rated")
        output = Path(args.output)
        screenshot(chromium, f"{base}/dashboard?since={args.since}", output, args.size)
        print(f"dashboard_screenshot: wrote {output} ({output.stat().st_size} bytes) "
              f"in {time.monotonic() - started:.0f} s")
    finally:
        serve.shutdown()
        ray.shutdown()
        for server in upstreams.values():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
