"""The 70B stand-in lives only on the node carrying dgx_spark; losing that node falls back, and it comes back."""

import time

import pytest

from tests.configs import provider, router_config
from tests.fakes.openai_upstream import FakeUpstream

pytestmark = pytest.mark.ray
APP = "dgx"
ON_HEAD = {"ray_actor_options": {"num_cpus": 0, "resources": {"workstation": 1}}}
BODY = {"model": "tier-3", "messages": [{"role": "user", "content": "a frontier question"}]}


def answered_by(handle) -> dict:
    return handle.generate.remote(BODY).result()["router"]


def running_replicas() -> int:
    from ray import serve

    return serve.status().applications[APP].deployments["provider-dgx-70b"].replica_states.get("RUNNING", 0)


def wait_for(predicate, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - the cluster is changing under us; keep polling until the deadline
            pass
        time.sleep(0.5)  # polling cluster state, not timing the code under test
    return False


def test_the_70b_is_placed_on_the_dgx_node_and_losing_it_falls_back_then_recovers(ray_cluster, ray_serve):
    from ray import serve

    from deployments.app import build_app

    dgx, cloud = FakeUpstream(name="dgx70b").start(), FakeUpstream(name="cloud").start()
    providers = [provider("dgx-70b", dgx.base_url, tags=["local", "dgx"], cost_in=0.0, cost_out=0.0),
                 provider("cloud", cloud.base_url, tags=["cloud"])]
    config = router_config(providers=providers)
    config["frontier"]["health_check_interval_s"] = 0.5
    options = {name: ON_HEAD for name in ("RouterIngress", "micro", "light", "frontier")}
    options["provider-dgx-70b"] = {"ray_actor_options": {"num_cpus": 0}}
    handle = serve.run(build_app({"router_config": config, "provider_deployments": {"dgx-70b": "dgx_spark"},
                                  "deployment_options": options}), name=APP, route_prefix="/dgx")
    try:
        status = serve.get_deployment_handle("provider-dgx-70b", APP).status.remote().result()
        assert status.detail["node"] == ray_cluster.dgx_node.node_id  # placed by the custom resource

        assert answered_by(handle)["provider"] == "dgx-70b"  # prefer_local: the DGX first

        import ray

        ray_cluster.remove_node(ray_cluster.dgx_node)
        # Until Serve's controller sees the replica gone, calls queue for it (bounded by the tier timeout):
        # the router acts on what the cluster knows, so wait for the cluster to know.
        assert wait_for(lambda: ray.cluster_resources().get("dgx_spark", 0) == 0 and running_replicas() == 0, 60)
        decision = answered_by(handle)
        assert decision["provider"] == "cloud"
        passed_over = " ".join(decision["reasons"])
        assert "dgx-70b" in passed_over

        ray_cluster.dgx_node = ray_cluster.add_node(num_cpus=2, resources={"dgx_spark": 1})
        ray_cluster.wait_for_nodes()
        assert wait_for(lambda: answered_by(handle)["provider"] == "dgx-70b", 120), "the DGX provider never came back"
    finally:
        serve.delete(APP)
        dgx.stop()
        cloud.stop()
