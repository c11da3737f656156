"""Under a bounded load a tier deployment scales out, and back in when the load stops."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.configs import router_config
from tests.fakes.openai_upstream import FakeUpstream

pytestmark = pytest.mark.ray
APP = "autoscale"
AUTOSCALING = {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 1, "metrics_interval_s": 0.2,
               "look_back_period_s": 0.5, "upscale_delay_s": 0.2, "downscale_delay_s": 1.0}


def light_replicas(*states: str) -> int:
    """Light replicas in the given states (RUNNING by default)."""
    from ray import serve

    deployment = serve.status().applications[APP].deployments["light"]
    return sum(deployment.replica_states.get(state, 0) for state in states or ("RUNNING",))


def wait_until(predicate, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)  # polling cluster state, not timing the code under test
    return False


def test_the_light_tier_scales_out_under_load_and_back_in(ray_serve):
    from ray import serve

    from deployments.app import build_app

    upstream = FakeUpstream(name="slow-light", mode="slow:1.5").start()
    config = router_config(light_url=upstream.base_url)
    args = {"router_config": config, "replica_cpus": 0,
            # A deep caller queue: this test is about scaling out, saturation has tests of its own.
            "deployment_options": {"light": {"autoscaling_config": AUTOSCALING, "max_queued_requests": 32}}}
    handle = serve.run(build_app(args), name=APP, route_prefix="/autoscale")
    try:
        assert light_replicas() == 1
        body = {"model": "tier-2", "messages": [{"role": "user", "content": "load"}]}
        peak = 1
        with ThreadPoolExecutor(max_workers=6) as pool:
            rounds = 0
            while rounds < 6 and peak < 2:  # bounded: at most 6 rounds of 6 (4 running + 2 queued per replica)
                futures = [pool.submit(lambda: handle.generate.remote(body).result()) for _ in range(6)]
                for future in futures:
                    assert future.result()["router"]["tier"] == 2
                    # A replica STARTING counts: the controller has scaled out; on a loaded machine the
                    # new replica's process may take longer to come up than the load lasts.
                    peak = max(peak, light_replicas("STARTING", "RUNNING"))
                rounds += 1
        assert peak >= 2, "the light tier never scaled out"
        assert wait_until(lambda: light_replicas("STARTING", "RUNNING") == 1, 60), "the light tier never scaled back to 1"
    finally:
        serve.delete(APP)
        upstream.stop()
