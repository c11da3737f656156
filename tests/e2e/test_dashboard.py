"""The dashboard in a real headless Chromium, over real Serve HTTP: the numbers it draws are the database's."""

import os
import shutil
import subprocess
import time
from collections import Counter
from html.parser import HTMLParser

import httpx
import pytest

from tests.configs import provider, router_config
from tests.fakes.openai_upstream import FakeUpstream

pytestmark = pytest.mark.ray
APP = "dashboard"
BROWSER_TIMEOUT_S = 120


class DomStats(HTMLParser):
    """Every ``data-stat`` element's ``data-value``, and the attributes of <body>."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.duplicates: list[str] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "body":
            self.body = found
        name = found.get("data-stat")
        if name is not None:
            if name in self.values:
                self.duplicates.append(name)
            self.values[name] = found.get("data-value") or ""


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        message = "no chromium on PATH: scripts/setup-test-deps.sh installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _browse(chromium: str, profile: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    # The budget of virtual time covers the page's fetch and drawing, and stops short of its 10 s refresh.
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=True)


@pytest.fixture(scope="module")
def upstream():
    server = FakeUpstream(name="up").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dashboard_app(ray_serve, upstream):
    from ray import serve

    from deployments.app import build_app

    config = router_config(micro_url=upstream.base_url, light_url=upstream.base_url,
                           providers=[provider("cloud", upstream.base_url)])
    serve.run(build_app({"router_config": config, "replica_cpus": 0}), name=APP, route_prefix="/")
    yield ray_serve, config
    serve.delete(APP)


def _chat(content: str, **extra) -> dict:
    return {"model": extra.pop("model", "router"), "messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture(scope="module")
def traffic(dashboard_app) -> int:
    """60 requests over HTTP (one of them invalid); returns how many the local workspace made."""
    base, _ = dashboard_app
    bodies = []
    for i in range(14):
        for tier in (1, 2, 3):
            bodies.append(_chat(f"question {i} for tier {tier}", router={"preferred_tier": tier}))
    bodies += [_chat(f"a frontier question {i}", model="tier-3") for i in range(10)]
    bodies += [_chat("/cert az-104") for _ in range(7)]
    with httpx.Client(base_url=base, timeout=30) as client:
        for body in bodies:
            assert client.post("/v1/chat/completions", json=body).status_code == 200
        invalid = client.post("/v1/chat/completions", json={"model": "router"})
        assert invalid.status_code == 400
        # The stats call flushes the ingress's queued rows before it reads; poll in case one is still ending.
        for _ in range(50):
            if client.get("/v1/routing/stats").json()["requests"] == len(bodies):
                break
            time.sleep(0.1)
    assert len(bodies) + 1 == 60
    return len(bodies)


def test_the_dashboard_draws_the_numbers_the_database_holds(dashboard_app, traffic, chromium, tmp_path):
    from router.storage.database import Database
    from router.storage.telemetry import TelemetryStore

    base, config = dashboard_app
    db = Database(config["access"]["database_url"])
    try:
        records = TelemetryStore(db).decisions(workspace_id="local")
    finally:
        db.close()
    assert len(records) == traffic  # the invalid body was nobody's: it is not in the workspace's rows

    done = _browse(chromium, str(tmp_path / "profile"), f"{base}/dashboard", "--dump-dom")
    page = DomStats()
    page.feed(done.stdout)
    assert page.body.get("data-ready") == "true", (page.body, done.stderr[-2000:])
    assert "data-error" not in page.body
    assert not page.duplicates, f"data-stat names used twice: {page.duplicates}"
    shown = page.values

    total = len(records)
    tiers = Counter("none" if r.tier is None else str(r.tier) for r in records)
    assert int(shown["requests"]) == total
    for key in ("0", "1", "2", "3"):
        assert int(shown[f"tier-{key}-requests"]) == tiers.get(key, 0), key
    if "none" in tiers:
        assert int(shown["tier-none-requests"]) == tiers["none"]
    assert tiers["0"] == 7 and tiers["3"] >= 24  # the commands, and what asked for Tier 3

    assert float(shown["frontier-share"]) == round(sum(3 in r.tier_path for r in records) / total, 4)
    assert float(shown["escalation-rate"]) == round(sum(bool(r.escalation_kinds) for r in records) / total, 4)
    providers = Counter(r.provider for r in records if r.provider)
    assert set(providers) >= {"cloud"}
    for name, count in providers.items():
        assert int(shown[f"provider-{name}-requests"]) == count, name
    assert not any(k.startswith("provider-") and k.endswith("-requests") and k[len("provider-"):-len("-requests")]
                   not in providers for k in shown)
    assert shown["baseline-provider"] == "cloud"
    assert len([k for k in shown if k.startswith("recent-") and k.endswith("-latency-ms")]) == min(total, 25)


def test_the_dashboard_renders_to_a_screenshot(dashboard_app, traffic, chromium, tmp_path):
    base, _ = dashboard_app
    picture = tmp_path / "dashboard.png"
    _browse(chromium, str(tmp_path / "profile"), f"{base}/dashboard", f"--screenshot={picture}",
            "--window-size=1400,1800")
    assert picture.exists()
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 30_000  # a blank 1400x1800 page compresses to a few kB


def test_the_dashboard_assets_are_served_and_nothing_else(dashboard_app):
    base, _ = dashboard_app
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'src="dashboard/dashboard.js"' in page.text and 'href="dashboard/dashboard.css"' in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
        for asset, kind in (("dashboard.js", "javascript"), ("dashboard.css", "text/css")):
            answer = client.get(f"/dashboard/{asset}")
            assert answer.status_code == 200 and kind in answer.headers["content-type"], asset
            text = answer.text.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace is a name, not a load
            assert "http://" not in text and "https://" not in text and "@import" not in text, asset
        assert client.get("/dashboard/index.py").status_code == 404
