"""How `tiered-router serve` knows the router is ready: the applications run, the HTTP proxy routes to
them, and every model has finished loading (or failed), each tier's state then said in one line."""

import sys
import time
from typing import Any

DEPLOY_TIMEOUT_S = 600.0
ROUTES_TIMEOUT_S = 60.0
MODEL_LOAD_WAIT_S = 600.0  # vLLM loading a 70B can take minutes; past this "ready" notes what still loads
_LOADING = ("created", "loading")


def _get_json(url: str, *, timeout_s: float) -> Any:
    """The JSON body at ``url`` whatever its status, or None while nothing readable answers there."""
    import httpx

    try:
        return httpx.get(url, timeout=timeout_s).json()
    except (httpx.HTTPError, ValueError):
        return None


def wait_running(serve: Any, names: list[str], submitted_at: float) -> bool:
    """Wait until every application of this deployment runs. Redeploying over a running router (a second
    `serve` on the same machine joins the running Ray), the old version reports RUNNING until the controller
    takes the new one: only a status deployed since ``submitted_at`` counts."""
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while time.monotonic() < deadline:
        apps = serve.status().applications
        fresh = {name: app for name in names
                 if (app := apps.get(name)) is not None and app.last_deployed_time_s >= submitted_at}
        failed = {name: app for name, app in fresh.items() if app.status == "DEPLOY_FAILED"}
        for name, app in failed.items():
            print(f"tiered-router: application {name} failed to deploy: {app.message}", file=sys.stderr)
        if failed:
            return False
        if len(fresh) == len(names) and all(app.status == "RUNNING" for app in fresh.values()):
            return True
        time.sleep(0.5)
    print(f"tiered-router: applications not running after {DEPLOY_TIMEOUT_S:.0f}s", file=sys.stderr)
    return False


def wait_routable(base_url: str, names: list[str], timeout_s: float = ROUTES_TIMEOUT_S) -> bool:
    """Wait until the HTTP proxy routes to every named application.

    Serve marks an application RUNNING a moment before its proxy learns the route, so a request sent
    right after "ready" could get a 404; the proxy's own route table (``/-/routes``) is the real test."""
    deadline = time.monotonic() + timeout_s
    while True:
        routes = _get_json(f"{base_url}/-/routes", timeout_s=2.0)
        if isinstance(routes, dict) and set(names) <= set(routes.values()):
            return True
        if time.monotonic() >= deadline:
            print(f"tiered-router: the HTTP proxy at {base_url} does not route to {', '.join(names)} after "
                  f"{timeout_s:.0f}s", file=sys.stderr)
            return False
        time.sleep(0.25)


def _loading(report: dict[str, Any]) -> list[str]:
    """Names of the tiers and frontier providers whose model is still loading."""
    names = []
    for tier in report.get("tiers", []):
        if tier.get("state") in _LOADING:
            names.append(tier["name"])
        names += [p["name"] for p in tier.get("providers", []) if p.get("state") in _LOADING]
    return names


def wait_models_loaded(healthz_url: str, timeout_s: float = MODEL_LOAD_WAIT_S) -> dict[str, Any]:
    """Wait until no model is still loading (loaded or failed), so that "ready" means the tiers that can
    answer do; returns the last ``/healthz`` report. Past ``timeout_s`` it stops waiting, not serving."""
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        report = _get_json(healthz_url, timeout_s=10.0)  # 503 while no model tier is up: still a report
        report = report if isinstance(report, dict) else {}
        loading = _loading(report) if report else ["the router"]
        if not loading or time.monotonic() >= deadline:
            return report
        if not announced:
            print(f"tiered-router: waiting for models to load: {', '.join(loading)} (Tier 0 commands answer "
                  f"already)", flush=True)
            announced = True
        time.sleep(0.5)


def describe_tiers(report: dict[str, Any]) -> list[str]:
    """One line per model tier: whether it can answer, and why not."""
    lines = []
    for tier in report.get("tiers", []):
        if tier.get("tier", 0) == 0:
            continue
        if tier.get("available"):
            lines.append(f"tier {tier['tier']} ({tier['name']}): available")
        elif tier.get("state") in _LOADING:
            lines.append(f"tier {tier['tier']} ({tier['name']}): still loading; routed around until it is up")
        else:
            why = "; ".join(f"{p['name']}: {p['reason']}" for p in tier.get("providers", []) if not p["available"])
            lines.append(f"tier {tier['tier']} ({tier['name']}): unavailable: {why or tier.get('reason')}")
    return lines
