"""Workspaces over real HTTP: keys, bring-your-own provider keys, budgets that hold under concurrency."""

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.configs import fresh_database_url, provider, router_config
from tests.fakes.openai_upstream import FakeUpstream

pytestmark = pytest.mark.ray
APP = "workspaces"
ADMIN_KEY = "admin-secret-for-tests"
SERVER_KEY = "sk-server-key-0123456789"
OWN_KEY = "sk-workspace-a-own-key-9876543210"


@pytest.fixture(scope="module")
def deployed(ray_serve):
    from ray import serve

    from deployments.app import build_app

    cloud = FakeUpstream(name="cloud").start()
    database = fresh_database_url()
    entry = provider("cloud", cloud.base_url, tags=["cloud"], cost_in=1.0, cost_out=1.0)
    entry["api_key_env"] = "CLOUD_KEY"
    config = router_config(providers=[entry], auth="workspace_key", database_url=database)
    env = {"TIERED_ROUTER_ADMIN_KEY": ADMIN_KEY, "TIERED_ROUTER_MASTER_KEY": Fernet.generate_key().decode(),
           "CLOUD_KEY": SERVER_KEY}
    actor = {"ray_actor_options": {"num_cpus": 0, "runtime_env": {"env_vars": env}}}
    serve.run(build_app({"router_config": config, "deployment_options": {"RouterIngress": actor, "frontier": actor},
                         "replica_cpus": 0}), name=APP, route_prefix="/ws")
    yield f"{ray_serve}/ws", cloud, database
    serve.delete(APP)
    cloud.stop()


def admin(base: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{base}/admin{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}, **kwargs)


def ask(base: str, key: str | None, text: str = "hard question", max_tokens: int = 10) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": "tier-3", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=60)


def test_requests_need_a_workspace_key_and_the_admin_api_needs_the_admin_key(deployed):
    base, _, _ = deployed
    missing = ask(base, None)
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]["message"]
    assert ask(base, "trk_wrong").status_code == 401
    refused = httpx.post(f"{base}/admin/workspaces", json={"name": "x"}, headers={"authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_admin_key"


def test_a_workspace_key_works_and_its_own_provider_key_is_used_only_for_it(deployed):
    base, cloud, database = deployed
    a = admin(base, "POST", "/workspaces", json={"name": "team-a"}).json()
    b = admin(base, "POST", "/workspaces", json={"name": "team-b"}).json()
    stored = admin(base, "PUT", f"/workspaces/{a['id']}/keys/cloud", json={"api_key": OWN_KEY})
    assert stored.status_code == 200 and OWN_KEY not in stored.text

    answer_a = ask(base, a["api_key"], "from a")
    answer_b = ask(base, b["api_key"], "from b")
    assert answer_a.status_code == 200 and answer_b.status_code == 200
    assert answer_a.headers["x-router-provider"] == "cloud"
    by_text = {r["messages"][-1]["content"]: auth for r, auth in zip(cloud.requests, cloud.authorizations)}
    assert by_text["from a"] == f"Bearer {OWN_KEY}"
    assert by_text["from b"] == f"Bearer {SERVER_KEY}"

    shown = admin(base, "GET", f"/workspaces/{a['id']}")
    assert shown.json()["provider_keys"] == ["cloud"] and "api_key" not in shown.json()
    for response in (answer_a, answer_b, shown, stored):
        assert OWN_KEY not in response.text and SERVER_KEY not in response.text
    db_file = Path(database.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    assert OWN_KEY.encode() not in raw and a["api_key"].encode() not in raw


def test_concurrent_requests_never_overspend_the_monthly_budget_and_the_refused_get_402(deployed):
    base, _, _ = deployed
    made = admin(base, "POST", "/workspaces", json={"name": "tight"}).json()
    text = "x" * 40  # each request reserves its worst case: (prompt ceiling + 10 tokens) at $1 per 1k tokens
    probe_body = ask(base, made["api_key"], text).json()
    probe = probe_body["router"]
    budget = Decimal("0.45")  # room for a handful of reservations, far fewer than the 20 sent at once
    admin(base, "PATCH", f"/workspaces/{made['id']}", json={"monthly_budget_usd": str(budget)})

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            body = {"model": "tier-3", "max_tokens": 10, "messages": [{"role": "user", "content": text}]}
            headers = {"authorization": f"Bearer {made['api_key']}"}
            return await asyncio.gather(*[client.post(f"{base}/v1/chat/completions", json=body, headers=headers)
                                          for _ in range(20)])

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 402}, statuses
    assert 402 in statuses and 200 in statuses
    for refused in (r for r in responses if r.status_code == 402):
        assert refused.json()["error"]["code"] == "budget_exceeded"
    spend = admin(base, "GET", f"/workspaces/{made['id']}/spend").json()
    assert Decimal(spend["spent_usd"]) + Decimal(spend["reserved_usd"]) <= budget
    assert Decimal(spend["reserved_usd"]) == 0  # every reservation was settled or released
    # the probe was billed its real usage at $1 per 1k tokens, prompt and completion alike
    assert Decimal(probe["cost_usd"]) == Decimal(probe_body["usage"]["total_tokens"]) / 1000


def test_telemetry_and_feedback_stay_inside_the_workspace_that_made_the_request(deployed):
    base, _, _ = deployed
    a = admin(base, "POST", "/workspaces", json={"name": "stats-a"}).json()
    b = admin(base, "POST", "/workspaces", json={"name": "stats-b"}).json()
    answer = ask(base, a["api_key"], "graded later")
    assert answer.status_code == 200
    request_id = answer.json()["id"]

    def post(key: str, body: object) -> httpx.Response:
        return httpx.post(f"{base}/v1/feedback", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)

    def stats(key: str, **params: str) -> httpx.Response:
        return httpx.get(f"{base}/v1/routing/stats", params=params, headers={"authorization": f"Bearer {key}"},
                         timeout=30)

    other = post(b["api_key"], {"request_id": request_id, "outcome": "bad"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "request_not_found"
    mine = post(a["api_key"], {"request_id": request_id, "score": 0.25, "comment": "half right"})
    assert mine.status_code == 201 and mine.json()["score"] == 0.25
    bad = post(a["api_key"], {"request_id": request_id, "score": 2})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "score"

    own = stats(a["api_key"], since="1h").json()
    assert (own["workspace_id"], own["requests"], own["feedback_count"]) == (a["id"], 1, 1)
    assert stats(b["api_key"]).json()["requests"] == 0
    peek = stats(b["api_key"], workspace="stats-a")
    assert peek.status_code == 403 and peek.json()["error"]["code"] == "other_workspace"
    assert stats(a["api_key"], since="yesterday").status_code == 400
    assert stats(a["api_key"], limit="5").json()["error"]["param"] == "limit"  # a parameter it cannot honour
    assert httpx.get(f"{base}/v1/routing/stats", timeout=30).status_code == 401
    every = httpx.get(f"{base}/v1/routing/stats", params={"workspace": "stats-a"},
                      headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30).json()
    assert (every["workspace_id"], every["requests"]) == (a["id"], 1)


def test_over_its_requests_per_minute_a_workspace_gets_429_with_retry_after(deployed):
    base, _, _ = deployed
    made = admin(base, "POST", "/workspaces", json={"name": "rate-limited", "settings": {"requests_per_minute": 2}})
    assert made.status_code == 201, made.text
    # Five requests in a few seconds span at most one minute boundary: at most 4 fit, so one is refused.
    answers = [ask(base, made.json()["api_key"], f"question {i}") for i in range(5)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.status_code in (200, 429) for a in answers)
    error = refused[0].json()["error"]
    assert (error["code"], error["type"]) == ("workspace_rate_limited", "rate_limit_error")
    assert "requests_per_minute of 2" in error["message"]
    assert 1 <= int(refused[0].headers["retry-after"]) <= 60
