"""Telemetry through the composed application in Serve's local testing mode: every request a row, the
stats and the feedback read them back."""

import logging

import pytest
from ray import serve

from deployments.app import build_app
from router.core.errors import InvalidRequest, NotFound
from router.storage.database import Database
from router.storage.telemetry import TelemetryStore
from tests.configs import provider, router_config


def body(text: str, **extra) -> dict:
    return {"model": "router", "messages": [{"role": "user", "content": text}], **extra}


def run_local(config: dict):
    return serve.run(build_app({"router_config": config}), name="telemetry", route_prefix=None,
                     _local_testing_mode=True)


def test_each_request_is_one_row_and_the_stats_count_them(upstream):
    config = router_config(micro_url=upstream.base_url, providers=[provider("cloud", upstream.base_url)])
    handle = run_local(config)
    answered = [handle.generate.remote(body(f"question {i}", router={"preferred_tier": 1})).result()
                for i in range(3)]
    handle.generate.remote(body("/cert az-104")).result()
    handle.generate.remote(body("hard", model="tier-3")).result()
    with pytest.raises(InvalidRequest):
        handle.generate.remote({"messages": []}).result()

    # The workspace sees its own five; the body refused before it was authenticated belongs to no workspace.
    stats = handle.stats.remote({"since": "1h"}).result()
    assert stats["requests"] == 5
    assert stats["by_status"] == {"answered": 5}
    assert {t["tier"]: t["requests"] for t in stats["tiers"]} == {"0": 1, "1": 3, "3": 1}
    assert stats["frontier_share"] == pytest.approx(1 / 5, abs=1e-4)
    assert [p["provider"] for p in stats["providers"]] == ["cloud", "micro:deepseek-r1:1.5b"]
    assert stats["savings"]["baseline_provider"] == "cloud"

    store = TelemetryStore(Database(config["access"]["database_url"]))
    rows = store.decisions()
    assert len(rows) == 6
    assert {r.request_id for r in rows} >= {a["id"] for a in answered}
    refused = next(r for r in rows if r.status == "refused")
    assert (refused.http_status, refused.error_code, refused.tier, refused.workspace_id) == \
        (400, "invalid_request", None, None)

    saved = handle.feedback.remote({"request_id": answered[0]["id"], "outcome": "bad"}).result()
    assert saved["score"] == 0.0
    with pytest.raises(NotFound):
        handle.feedback.remote({"request_id": "never-made", "score": 0.5}).result()
    tier_1 = next(t for t in handle.stats.remote({}).result()["tiers"] if t["tier"] == "1")
    assert (tier_1["feedback_count"], tier_1["feedback_mean"]) == (1, 0.0)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_prompt_and_answer_text_reach_the_log_only_when_the_config_opts_in(upstream):
    serve_log = logging.getLogger("ray.serve")  # Serve's own logger: it does not propagate to the root
    for opted_in in (False, True):
        config = router_config(micro_url=upstream.base_url)
        config["telemetry"] = {"log_bodies": opted_in}
        handle = run_local(config)
        marker = f"body-marker-{opted_in}"
        lines = Lines()
        serve_log.addHandler(lines)
        try:
            handle.generate.remote(body(marker, router={"preferred_tier": 1})).result()
        finally:
            serve_log.removeHandler(lines)
        text = "\n".join(lines.lines)
        assert "answered at tier 1" in text  # the outcome line is there either way
        assert (marker in text) is opted_in
