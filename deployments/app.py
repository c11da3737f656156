"""App builders named by ``import_path`` in the serve config files.

``build_app`` validates the router config once, then applies ``serve.deployment`` to the plain
server classes and binds the graph: the ingress receives the three tier handles. A serve config's
``deployments:`` section overrides what is set here (``user_config``, ``max_ongoing_requests``,
``ray_actor_options``, autoscaling) per deployment name.
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

from deployments.frontier import FrontierPoolServer
from deployments.ingress import RouterIngress
from deployments.model_tier import ModelTierServer
from router.core.config import RouterConfig, load_config, parse_config

APP_NAME = "tiered-router"
INGRESS_NAME = "RouterIngress"


class AppArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    router_config: dict[str, Any] | None = Field(default=None, description="the router config, inline")
    router_config_path: str | None = Field(default=None, description="or a YAML file holding it")
    replica_cpus: float | None = Field(default=None, ge=0, description="CPUs per replica; tests use 0")
    provider_deployments: dict[str, str | None] = Field(
        default_factory=dict,
        description="frontier providers served inside the cluster: provider name -> the custom resource that "
        "places it (e.g. {'dgx-70b': 'dgx_spark'}); each becomes a deployment named provider-<name>",
    )
    deployment_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-deployment .options() overrides by name (autoscaling_config, max_ongoing_requests, ...)",
    )


def _router_config(args: AppArgs) -> tuple[RouterConfig, dict[str, Any]]:
    if args.router_config is not None:
        config = parse_config(args.router_config, source="application args router_config")
    elif args.router_config_path is not None:
        config = load_config(Path(args.router_config_path))
    else:
        config = RouterConfig()
    return config, config.model_dump(mode="json")


def build_app(args: dict[str, Any] | None = None) -> Application:
    parsed = AppArgs.model_validate(args or {})
    config, user_config = _router_config(parsed)
    actor = {} if parsed.replica_cpus is None else {"ray_actor_options": {"num_cpus": parsed.replica_cpus}}


    def options(name: str, max_ongoing_requests: int) -> dict[str, Any]:
        # A caller queues at most one replica's worth of requests; past that Serve raises
        # BackPressureError and the dispatcher escalates instead of waiting without bound.
        # JSON log lines: Serve adds the request id it carries through handle calls, so one id follows a
        # request across every deployment.
        chosen: dict[str, Any] = {"user_config": user_config, "max_ongoing_requests": max_ongoing_requests,
                                  "max_queued_requests": max_ongoing_requests,
                                  "logging_config": {"encoding": "JSON"}, **actor}
        chosen.update(parsed.deployment_options.get(name, {}))
        return chosen

    micro = serve.deployment(ModelTierServer, name="micro").options(
        **options("micro", config.tiers.micro.concurrency)).bind("micro", user_config)
    light = serve.deployment(ModelTierServer, name="light").options(
        **options("light", config.tiers.light.concurrency)).bind("light", user_config)
    served: dict[str, Any] = {}
    for name, resource in parsed.provider_deployments.items():
        deployment = f"provider-{name}"
        placed = options(deployment, config.tiers.frontier.concurrency)
        if resource is not None:
            # Only a node carrying the resource can host it: the DGX Spark joins with {"dgx_spark": 1}.
            actor_options = dict(placed.get("ray_actor_options", {}))
            actor_options.setdefault("resources", {resource: 1})
            placed["ray_actor_options"] = actor_options
        served[name] = (serve.deployment(ModelTierServer, name=deployment).options(**placed)
                        .bind(f"provider:{name}", user_config), resource)
    frontier = serve.deployment(FrontierPoolServer, name="frontier").options(
        **options("frontier", config.tiers.frontier.concurrency)).bind(user_config, served)
    return serve.deployment(RouterIngress, name=INGRESS_NAME).options(
        **options(INGRESS_NAME, 64)).bind(micro, light, frontier, user_config)
