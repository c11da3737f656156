"""What an operator sees of a running router, on real Serve over real HTTP: the metrics on Ray's Prometheus
endpoint, JSON log lines that follow one request id across deployments and hold no secret, and a hot reload
under traffic (the same path ``serve deploy`` takes: a declarative config applied by the controller)."""

import json
import re
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.configs import provider, router_config
from tests.fakes.openai_upstream import FakeUpstream

pytestmark = pytest.mark.ray
APP = "observe"
DEPLOYMENTS = ("RouterIngress", "micro", "light", "frontier")


def deploy(router: dict) -> None:
    """Apply a Serve config document, as ``serve deploy`` does: the router config is every deployment's
    user_config, so an edited router config is a lightweight update (reconfigure), not a restart."""
    from ray.serve._private.api import serve_start
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate({"applications": [{
        "name": APP, "route_prefix": "/", "import_path": "deployments.app:build_app",
        "args": {"replica_cpus": 0},
        "deployments": [{"name": name, "user_config": router} for name in DEPLOYMENTS],
    }]})
    serve_start().deploy_apps(schema, _blocking=True)


@pytest.fixture(scope="module")
def upstream():
    server = FakeUpstream(name="obs").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config(upstream) -> dict:
    made = router_config(micro_url=upstream.base_url, light_url=upstream.base_url,
                         providers=[provider("cloud", upstream.base_url)])
    made["telemetry"] = {"flush_interval_s": 30}  # rows are written by the flushes these tests check, not the clock
    return made


@pytest.fixture(scope="module")
def base_url(ray_serve, config):
    from ray import serve

    deploy(config)
    with httpx.Client(base_url=ray_serve, timeout=30) as client:
        for _ in range(300):  # bounded: the first deploy builds the app and starts four replicas
            if client.get("/healthz").status_code in (200, 503):
                break
            time.sleep(0.2)
    yield ray_serve
    serve.delete(APP)


def chat(client: httpx.Client, text: str, headers: dict | None = None, **extra) -> httpx.Response:
    return client.post("/v1/chat/completions", headers=headers or {},
                       json={"model": "router", "messages": [{"role": "user", "content": text}], **extra})


def test_the_router_series_reach_rays_prometheus_endpoint(base_url, ray_cluster):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        assert chat(client, "one", router={"preferred_tier": 1}).status_code == 200
        assert chat(client, "two", model="tier-3").status_code == 200
        assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 400
        assert client.get("/healthz").status_code == 200  # a health check sets each provider's availability
    expected = {"ray_router_requests_total", "ray_router_request_latency_ms_bucket", "ray_router_tier_latency_ms_bucket",
                "ray_router_cost_usd_total", "ray_router_tokens_total", "ray_router_frontier_reached_total",
                "ray_router_provider_available"}
    seen: set[str] = set()
    text = ""
    for _ in range(150):  # bounded: Ray reports metrics every 2 s in the test cluster
        text = "\n".join(httpx.get(url, timeout=5).text for url in ray_cluster.metrics_urls())
        seen = {m for m in expected if re.search(rf"^{m}{{", text, re.M)}
        if seen == expected and re.search(r'ray_router_requests_total\{[^}]*tier="3"', text) and \
                re.search(r'ray_router_requests_total\{[^}]*status="refused"', text) and \
                re.search(r'ray_router_provider_available\{[^}]*provider="cloud"[^}]*\} 1', text):
            break  # each series is reported on its own 2 s tick: wait for all of them, the gauge included
        time.sleep(0.3)
    assert seen == expected
    answered_at_3 = re.search(r'ray_router_requests_total\{[^}]*provider="cloud"[^}]*status="answered"[^}]*tier="3"'
                              r'[^}]*\} (\S+)', text)
    assert answered_at_3 and float(answered_at_3.group(1)) >= 1
    assert re.search(r'ray_router_requests_total\{[^}]*status="refused"[^}]*tier="none"', text)
    assert re.search(r'ray_router_provider_available\{[^}]*provider="cloud"[^}]*\} 1', text)


def _serve_logs() -> list[Path]:
    import ray

    folder = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs" / "serve"
    return sorted(folder.glob("replica_*.log"))


def test_log_lines_are_json_carry_the_request_id_across_deployments_and_hold_no_secret(base_url):
    request_id = f"obs-{uuid.uuid4().hex}"
    prompt = f"PROMPT-{uuid.uuid4().hex}"
    key = f"trk_{uuid.uuid4().hex}"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        answered = chat(client, prompt, router={"preferred_tier": 2}, headers={"x-request-id": request_id})
        assert answered.status_code == 200 and answered.json()["id"] == request_id
        # The local profile runs a keyed request as its one workspace; the key must not reach any log line.
        keyed = chat(client, "hello", headers={"authorization": f"Bearer {key}"})
        assert keyed.status_code == 200
    deployments: set[str] = set()
    for _ in range(100):  # bounded: replicas write their log files asynchronously
        deployments = set()
        for path in _serve_logs():
            for line in path.read_text().splitlines():
                if request_id in line:
                    record = json.loads(line)  # every line of the request is a JSON object
                    if record.get("request_id") == request_id:
                        deployments.add(record["deployment"])
        if {f"{APP}_RouterIngress", f"{APP}_light"} <= deployments:
            break
        time.sleep(0.2)
    assert {f"{APP}_RouterIngress", f"{APP}_light"} <= deployments  # Serve names them app_deployment
    everything = "\n".join(path.read_text() for path in _serve_logs())
    assert key not in everything
    assert prompt not in everything


def test_a_threshold_changed_under_traffic_applies_without_a_restart_or_a_failed_request(base_url, config):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        before = client.get("/healthz").json()["replica"]
        first = chat(client, "steady", router={"preferred_tier": 2}).json()["router"]
        assert (first["tier"], first["cascade"]["threshold"]) == (2, 0.5)

        results: list[tuple[int, dict | None]] = []
        sent: list[str] = []
        stop = threading.Event()

        def stream() -> None:
            with httpx.Client(base_url=base_url, timeout=30) as streamer:
                for i in range(300):  # bounded in count, and stopped once the new config is seen
                    if stop.is_set():
                        return
                    sent.append(f"reload-{i}-{uuid.uuid4().hex}")
                    response = chat(streamer, f"q{i}", router={"preferred_tier": 2},
                                    headers={"x-request-id": sent[-1]})
                    results.append((response.status_code,
                                    response.json().get("router") if response.status_code == 200 else None))

        sender = threading.Thread(target=stream)
        sender.start()
        edited = json.loads(json.dumps(config))
        edited["cascade"] = {"threshold": 0.0}  # every Tier 2 answer now escalates
        try:
            deploy(edited)
            for _ in range(300):
                if results and results[-1][1] and results[-1][1]["cascade"]["threshold"] == 0.0:
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            sender.join(timeout=60)

        assert results and all(status == 200 for status, _ in results), [s for s, _ in results if s != 200]
        thresholds = [decision["cascade"]["threshold"] for _, decision in results]
        assert thresholds[-1] == 0.0
        assert thresholds == sorted(thresholds, reverse=True)  # once applied, no request saw the old one
        after = chat(client, "after the reload", router={"preferred_tier": 2}).json()["router"]
        assert (after["tier"], after["escalations"][0]["kind"], after["cascade"]["threshold"]) == (3, "disagreement", 0.0)
        assert client.get("/healthz").json()["replica"] == before  # the same replica: reconfigured, not restarted
        # Every request of the stream left its row: the reload flushed the queue rather than losing it.
        assert client.get("/v1/routing/stats").status_code == 200  # answering stats flushes the queue
    from router.storage.database import Database
    from router.storage.telemetry import TelemetryStore

    rows = TelemetryStore(Database(config["access"]["database_url"])).decisions(workspace_id="local")
    assert set(sent) <= {row.request_id for row in rows}


def test_a_clean_shutdown_writes_the_rows_still_queued(base_url, config):
    """Runs last: it deletes the application. Rows wait up to a second in the queue; deleting the app right
    after the answers must still leave every row (Serve calls the ingress's ``__del__``, which flushes)."""
    from ray import serve

    from router.storage.database import Database
    from router.storage.telemetry import TelemetryStore

    sent = [f"shutdown-{i}-{uuid.uuid4().hex}" for i in range(5)]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for request_id in sent:
            assert chat(client, "bye", router={"preferred_tier": 1},
                        headers={"x-request-id": request_id}).status_code == 200
    serve.delete(APP)
    rows = TelemetryStore(Database(config["access"]["database_url"])).decisions(workspace_id="local")
    assert set(sent) <= {row.request_id for row in rows}
