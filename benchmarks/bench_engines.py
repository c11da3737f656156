"""Engine figures on this machine, printed as a table:

1. tokens/s of the transformers engine on the tiny checkpoint (generate and stream; CPU);
2. added latency per call of each HTTP backend (OpenAI-compatible httpx, OpenAI SDK, Anthropic SDK) over a
   bare httpx POST to the same loopback upstream;
3. peak memory (max RSS) of a tier replica: a ``ModelTierServer`` on the transformers engine with the tiny
   model, loaded and answering, in a process of its own.

Every loop is bounded by a count and a time budget. Run from the repository root:
    python -m benchmarks.bench_engines [--quick]
"""

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.tiny import TINY_MODEL_NAME, build_tiny_checkpoint  # noqa: E402
from router.core.generation import GenerationRequest, Message  # noqa: E402

REQUEST = GenerationRequest(request_id="bench", messages=[
    Message(role="system", content="You are terse."), Message(role="user", content="Summarise Ray Serve.")])


async def bounded(call: Callable[[], Awaitable[object]], count: int, budget_s: float) -> list[float]:
    """Seconds per call, for up to ``count`` calls or ``budget_s`` seconds, whichever ends first."""
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < count and time.perf_counter() < deadline:
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def transformers_speed(checkpoint: str, max_tokens: int, runs: int) -> dict[str, float]:
    from models.transformers_engine import TransformersEngine

    engine = TransformersEngine(model=TINY_MODEL_NAME, provider="bench", model_path=checkpoint, device="cpu")
    await engine.start()
    await engine.generate(REQUEST, max_tokens=8, temperature=0.0)  # warm-up
    tokens = 0

    async def generate() -> None:
        nonlocal tokens
        tokens += (await engine.generate(REQUEST, max_tokens=max_tokens, temperature=0.0)).usage.completion_tokens

    times = await bounded(generate, runs, 60.0)
    first_delta: list[float] = []
    streamed = 0
    stream_started = time.perf_counter()
    for _ in range(max(1, runs // 2)):
        started, first = time.perf_counter(), None
        async for delta in engine.stream(REQUEST, max_tokens=max_tokens, temperature=0.0):
            first = first or time.perf_counter() - started
            if delta.usage:
                streamed += delta.usage.completion_tokens
        first_delta.append(first or 0.0)
    stream_s = time.perf_counter() - stream_started
    await engine.close()
    return {"generate_tok_s": tokens / sum(times), "stream_tok_s": streamed / stream_s,
            "first_delta_ms": 1000 * statistics.median(first_delta), "runs": len(times)}


async def http_overheads(count: int, budget_s: float) -> dict[str, dict[str, float]]:
    from models.anthropic_engine import AnthropicEngine
    from models.openai_compatible import OpenAICompatibleEngine
    from models.openai_engine import OpenAIEngine
    from tests.fakes.anthropic_upstream import AnthropicUpstream
    from tests.fakes.openai_upstream import FakeUpstream

    openai_server, anthropic_server = FakeUpstream(name="bench").start(), AnthropicUpstream(name="bench").start()
    results: dict[str, dict[str, float]] = {}
    try:
        async with httpx.AsyncClient() as raw:
            chat_body = {"model": "m", "messages": [m.model_dump() for m in REQUEST.messages], "max_tokens": 64}
            messages_body = {"model": "m", "max_tokens": 64, "system": "You are terse.",
                             "messages": [{"role": "user", "content": "Summarise Ray Serve."}]}

            async def bare_chat() -> None:
                (await raw.post(f"{openai_server.base_url}/chat/completions", json=chat_body)).json()

            async def bare_messages() -> None:
                (await raw.post(f"{anthropic_server.base_url}/v1/messages", json=messages_body)).json()

            baselines = {"openai": await bounded(bare_chat, count, budget_s),
                         "anthropic": await bounded(bare_messages, count, budget_s)}
        engines = {
            "openai_compatible (httpx)": ("openai", OpenAICompatibleEngine(
                base_url=openai_server.base_url, model="m", provider="bench", max_retries=0)),
            "openai (SDK)": ("openai", OpenAIEngine(model="m", provider="bench", api_key="k",
                                                    base_url=openai_server.base_url, max_retries=0)),
            "anthropic (SDK)": ("anthropic", AnthropicEngine(model="m", provider="bench", api_key="k",
                                                             base_url=anthropic_server.base_url, max_retries=0)),
        }
        for name, (wire, engine) in engines.items():
            await engine.generate(REQUEST, max_tokens=64, temperature=0.0)  # warm the connection pool
            times = await bounded(lambda e=engine: e.generate(REQUEST, max_tokens=64, temperature=0.0), count,
                                  budget_s)
            await engine.close()
            base = statistics.median(baselines[wire])
            results[name] = {"p50_ms": 1000 * statistics.median(times), "bare_p50_ms": 1000 * base,
                             "added_p50_ms": 1000 * (statistics.median(times) - base), "calls": len(times)}
    finally:
        openai_server.stop()
        anthropic_server.stop()
    return results


REPLICA_SCRIPT = """
import asyncio, json, resource, sys
sys.path.insert(0, {root!r})
from deployments.model_tier import ModelTierServer
from router.core.generation import GenerationRequest, Message
from tests.configs import router_config

async def main():
    config = router_config()
    config["tiers"]["micro"].update(engine="transformers", model="tiny", model_path={checkpoint!r}, device="cpu")
    server = ModelTierServer("micro", config)
    status = await server.loaded()
    assert status.available, status.reason
    request = GenerationRequest(request_id="m", messages=[Message(role="user", content="hello")], max_tokens=64)
    for _ in range(5):
        await server.generate(request)
    print(json.dumps({{"max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))

asyncio.run(main())
"""


def replica_peak_rss(checkpoint: str) -> float:
    script = REPLICA_SCRIPT.format(root=str(ROOT), checkpoint=checkpoint)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["max_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test of the benchmark itself)")
    args = parser.parse_args()
    runs, calls, budget = (3, 20, 5.0) if args.quick else (10, 200, 20.0)
    with tempfile.TemporaryDirectory() as cache:
        checkpoint = str(build_tiny_checkpoint(cache))
        speed = asyncio.run(transformers_speed(checkpoint, max_tokens=128, runs=runs))
        overheads = asyncio.run(http_overheads(calls, budget))
        rss = replica_peak_rss(checkpoint)
    print("\n== transformers engine, tiny Qwen2 checkpoint (2 layers, hidden 128), CPU, 128 new tokens ==")
    print(f"generate: {speed['generate_tok_s']:.0f} tokens/s over {speed['runs']:.0f} runs; "
          f"stream: {speed['stream_tok_s']:.0f} tokens/s, first delta after {speed['first_delta_ms']:.1f} ms (p50)")
    print("\n== added latency per call over a bare httpx POST to the same loopback upstream ==")
    print(f"{'backend':28} {'p50 ms':>8} {'bare p50 ms':>12} {'added ms':>9} {'calls':>6}")
    for name, row in overheads.items():
        print(f"{name:28} {row['p50_ms']:8.2f} {row['bare_p50_ms']:12.2f} {row['added_p50_ms']:9.2f} "
              f"{row['calls']:6.0f}")
    print("\n== tier replica process (ModelTierServer + transformers engine + tiny model, 5 answers) ==")
    print(f"peak RSS: {rss:.0f} MiB")
    print(f"(this benchmark process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
