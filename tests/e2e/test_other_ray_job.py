"""A separate driver process joins the running cluster and calls the router through its handle."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from deployments.cli import SERVE_ENV
from tests.configs import DEAD_URL, router_config

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def client_app(ray_serve, request):
    from ray import serve

    from deployments.app import build_app
    from tests.fakes.openai_upstream import FakeUpstream

    upstream = FakeUpstream(name="light").start()
    config = router_config(micro_url=DEAD_URL, light_url=upstream.base_url)
    serve.run(build_app({"router_config": config, "replica_cpus": 0}), name="client-app", route_prefix="/client")
    yield upstream
    serve.delete("client-app")
    upstream.stop()


def test_another_driver_routes_generates_streams_and_gets_typed_errors(client_app):
    import ray

    address = ray.get_runtime_context().gcs_address
    script = textwrap.dedent(f"""
        import json, ray
        from ray import serve
        from deployments.client import RouterClient
        from router.core.errors import RoutingFailure
        ray.init(address={address!r}, namespace="serve", log_to_driver=False)
        router = RouterClient("client-app")
        out = {{}}
        out["answer"] = router.generate_sync([{{"role": "user", "content": "from another job"}}])
        out["decision"] = router.route_sync([{{"role": "user", "content": "/help"}}])
        raw = serve.get_app_handle("client-app")  # the README's plain-handle example
        out["raw"] = raw.route.remote({{"messages": [{{"role": "user", "content": "/help"}}]}}).result()
        chunks = router.stream_sync([{{"role": "user", "content": "stream it"}}])
        out["streamed"] = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        try:
            router.generate_sync({{"model": "tier-3", "messages": [{{"role": "user", "content": "x"}}]}})
        except RoutingFailure as exc:
            out["error"] = [type(exc).__name__, exc.code]
        print("RESULT" + json.dumps(out))
    """)
    # As for a job submitted to a cluster that `tiered-router serve` started: it inherits the CLI's Serve settings.
    env = {**os.environ, **SERVE_ENV}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT")), None)
    assert line is not None, result.stderr[-3000:]
    out = json.loads(line[len("RESULT"):])
    assert out["answer"]["choices"][0]["message"]["content"] == "[light] echo: from another job"
    assert out["decision"]["tier"] == 0 and out["decision"]["command"] == "help"
    assert {**out["raw"], "request_id": None} == {**out["decision"], "request_id": None}
    assert out["streamed"] == "[light] echo: stream it"
    assert out["error"] == ["RoutingFailure", "routing_failure"]
