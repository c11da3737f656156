"""What `tiered-router serve` makes of the router's /healthz report before it says "ready"."""

from deployments.serve_startup import _loading, describe_tiers

TIER_0 = {"tier": 0, "name": "command", "available": True, "reason": ""}


def report(micro: dict, light: dict, providers: list[dict]) -> dict:
    frontier = {"tier": 3, "name": "frontier", "available": any(p["available"] for p in providers),
                "reason": "" if any(p["available"] for p in providers) else "no frontier provider is available",
                "providers": providers}
    return {"tiers": [TIER_0, {"tier": 1, "name": "micro", **micro}, {"tier": 2, "name": "light", **light}, frontier]}


def test_tiers_and_providers_still_loading_are_waited_for_and_failures_are_not():
    still = report({"available": False, "state": "loading", "reason": "still loading the model (3s so far)"},
                   {"available": False, "state": "failed", "reason": "cannot load x"},
                   [{"name": "dgx-70b", "available": False, "state": "created", "reason": "still loading"},
                    {"name": "openai", "available": True, "state": "ready", "reason": ""}])
    assert _loading(still) == ["micro", "dgx-70b"]
    done = report({"available": True, "state": "ready", "reason": ""},
                  {"available": False, "state": "failed", "reason": "cannot load x"},
                  [{"name": "openai", "available": True, "state": "ready", "reason": ""}])
    assert _loading(done) == []


def test_the_start_up_summary_says_which_tiers_answer_and_why_the_others_do_not():
    lines = describe_tiers(report(
        {"available": True, "state": "ready", "reason": ""},
        {"available": False, "state": "loading", "reason": "still loading the model (600s so far)"},
        [{"name": "openai", "available": False, "state": "ready",
          "reason": "the API key is read from OPENAI_API_KEY, which is not set"}]))
    assert lines == [
        "tier 1 (micro): available",
        "tier 2 (light): still loading; routed around until it is up",
        "tier 3 (frontier): unavailable: openai: the API key is read from OPENAI_API_KEY, which is not set",
    ]


def test_redeploying_over_a_running_router_waits_for_the_new_version(monkeypatch):
    from ray.serve.schema import (
        ApplicationStatus,
        ApplicationStatusOverview,
        ServeStatus,
    )

    from deployments import serve_startup

    def app(status: ApplicationStatus, deployed_at: float) -> ServeStatus:
        return ServeStatus(applications={"tiered-router": ApplicationStatusOverview(status, "", deployed_at, {})})

    submitted_at = 1_000.0
    # Serve's own status objects, in the order a redeploy goes: the old version still RUNNING, then the new one.
    statuses = iter([app(ApplicationStatus.RUNNING, 10.0), app(ApplicationStatus.DEPLOYING, 1_001.0),
                     app(ApplicationStatus.RUNNING, 1_001.0)])
    polls = []

    class SeenByTheCli:
        @staticmethod
        def status() -> ServeStatus:
            polls.append(1)
            return next(statuses)

    monkeypatch.setattr(serve_startup.time, "sleep", lambda _: None)  # the poll interval; nothing here is timed
    assert serve_startup.wait_running(SeenByTheCli, ["tiered-router"], submitted_at)
    assert len(polls) == 3  # the old version's RUNNING did not count


def test_replica_settings_travel_with_the_app_and_never_reach_job_drivers():
    from pathlib import Path

    import yaml

    from deployments.cli import SERVE_ENV

    root = Path(__file__).resolve().parents[2]
    for name in ("serve_config.yaml", "serve_config.local.yaml", "serve_config.demo.yaml"):
        (app,) = yaml.safe_load((root / name).read_text())["applications"]
        assert app["runtime_env"]["env_vars"] == {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
                                                  "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0"}, name
    # Set cluster-wide, this one made every synchronous handle call in a submitted job fail.
    assert "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP" not in SERVE_ENV
