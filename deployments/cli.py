"""The ``tiered-router`` command.

``tiered-router serve [--config FILE] [--port N] [--host H]`` starts a local Ray (or joins
``--address``), deploys ``serve_config.yaml`` when the cluster has a GPU and
``serve_config.local.yaml`` when it has none, prints the base URL, and shuts down on Ctrl-C.
``tiered-router workspace ...`` administers workspaces, keys and budgets (router/admin/workspace_cli.py).
``tiered-router serve --demo`` builds the tiny random-weight checkpoint (``models/tiny.py``) and deploys
``serve_config.demo.yaml`` on it: the whole chain, offline, with every answer marked as the demo model's.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from deployments.serve_startup import (
    describe_tiers,
    wait_models_loaded,
    wait_routable,
    wait_running,
)
from router.admin.workspace_cli import add_workspace_commands
from router.evaluation.cli import add_eval_command
from router.tuning.cli import add_tune_command

SOURCE_ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_CONFIG = "serve_config.yaml"
LOCAL_CONFIG = "serve_config.local.yaml"
DEMO_CONFIG = "serve_config.demo.yaml"
DEMO_PLACEHOLDER = "${DEMO_CHECKPOINT}"
CLOCK_SKEW_S = 5.0

# Set for the Ray processes this command starts (a value already in the environment wins). Only what the
# Serve controller reads belongs here: every process of the cluster, job drivers included, inherits it.
# The replicas' own settings travel in the serve configs' runtime_env.
SERVE_ENV = {
    # Serve gives a new HTTP proxy 5 s to come up and kills it after that; on a busy 2-core machine a
    # proxy can take longer, and the start-up then fails with the proxy "killed by ray.kill".
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
}


def find_config(name: str) -> Path:
    for folder in (Path.cwd(), SOURCE_ROOT):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise SystemExit(f"tiered-router: cannot find {name} in {Path.cwd()} or {SOURCE_ROOT}; pass --config FILE")


def serve_configs() -> list[Path]:
    """The serve configs `serve` picks from (with a GPU, and without), each from the first folder that has it."""
    found = []
    for name in (PRODUCTION_CONFIG, LOCAL_CONFIG):
        candidate = next((folder / name for folder in (Path.cwd(), SOURCE_ROOT) if (folder / name).is_file()), None)
        if candidate is not None:
            found.append(candidate)
    return found


def load_serve_config(path: Path, *, host: str | None, port: int | None) -> Any:
    """Validate the serve config with Ray's own schema and the router config inside it."""
    from ray.serve.schema import ServeDeploySchema

    from router.core.config import parse_config
    from router.core.errors import RouterError

    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"tiered-router: cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise SystemExit(f"tiered-router: {path} must hold a mapping (Ray Serve's config schema)")
    http = raw.setdefault("http_options", {})
    if host is not None:
        http["host"] = host
    if port is not None:
        http["port"] = port
    try:
        config = ServeDeploySchema.model_validate(raw)
    except Exception as exc:  # noqa: BLE001 - pydantic's message names the field
        raise SystemExit(f"tiered-router: {path} is not a valid Ray Serve config:\n{exc}") from None
    for app in config.applications:
        for deployment in app.deployments:
            if deployment.user_config not in (None, {}) and isinstance(deployment.user_config, dict):
                try:
                    parse_config(deployment.user_config, source=f"{path}: {app.name}.{deployment.name}.user_config")
                except RouterError as exc:
                    raise SystemExit(f"tiered-router: {exc.message}") from None
    return config


def default_demo_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tiered-router"


def prepare_demo(cache_dir: Path, template: Path | None = None) -> Path:
    """Build (or reuse) the tiny checkpoint and write the demo serve config pointing at it; return its path."""
    from models.tiny import build_tiny_checkpoint

    checkpoint = build_tiny_checkpoint(cache_dir)
    template = template or find_config(DEMO_CONFIG)
    text = template.read_text()
    if DEMO_PLACEHOLDER not in text:
        raise SystemExit(f"tiered-router: {template} does not mention {DEMO_PLACEHOLDER}; it is not a demo config")
    target = cache_dir / "serve_config.demo.generated.yaml"
    # json.dumps gives a double-quoted YAML scalar, whatever the path holds.
    target.write_text(text.replace(DEMO_PLACEHOLDER, json.dumps(str(checkpoint))))
    return target


def cmd_serve(args: argparse.Namespace) -> int:
    for key, value in SERVE_ENV.items():
        os.environ.setdefault(key, value)
    demo_config = None
    if args.demo:
        if args.config:
            raise SystemExit("tiered-router: --demo deploys its own config; leave out --config")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo never needs the hub; replicas inherit this
        cache = Path(args.demo_cache) if args.demo_cache else default_demo_cache()
        print(f"tiered-router: DEMO: building the tiny random-weight checkpoint in {cache} (answers are noise)",
              flush=True)
        demo_config = prepare_demo(cache)
    import ray
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions

    started = time.monotonic()
    ray.init(address=args.address, namespace="serve", include_dashboard=False, log_to_driver=args.verbose)
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    if demo_config is not None:
        path = demo_config
    else:
        path = Path(args.config) if args.config else find_config(PRODUCTION_CONFIG if has_gpu else LOCAL_CONFIG)
    config = load_serve_config(path, host=args.host, port=args.port)
    host, port = config.http_options.host, config.http_options.port
    print(f"tiered-router: cluster has {'a GPU' if has_gpu else 'no GPU'}; deploying {path}", flush=True)
    router_app = _router_app(config)
    if _local_profile(config):
        print("tiered-router: local profile (access.auth: none): no authentication, every request runs as "
              "workspace 'local'", flush=True)

    client = serve_api.serve_start(
        http_options=config.http_options.model_dump(), proxy_location=config.proxy_location,
        grpc_options=gRPCOptions(**config.grpc_options.model_dump()),
    )
    submitted_at = time.time() - CLOCK_SKEW_S  # compared with the controller's clock, maybe another machine's
    client.deploy_apps(config, _blocking=False)
    names = [app.name for app in config.applications]

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        routed = [app.name for app in config.applications if app.route_prefix is not None]
        base_url = f"http://{shown_host}:{port}"
        if not wait_running(serve, names, submitted_at) or not wait_routable(base_url, routed):
            serve.shutdown()
            ray.shutdown()
            return 1
        if router_app is not None and router_app.route_prefix is not None:
            report = wait_models_loaded(base_url + router_app.route_prefix.rstrip("/") + "/healthz")
            for line in describe_tiers(report):
                print(f"tiered-router: {line}", flush=True)
        print(f"tiered-router: ready in {time.monotonic() - started:.1f}s", flush=True)
        print(f"tiered-router: OpenAI base URL http://{shown_host}:{port}/v1  (config: {path})", flush=True)
        print("tiered-router: press Ctrl-C to stop", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\ntiered-router: shutting down", flush=True)
        serve.shutdown()
        ray.shutdown()
    return 0


def _ingress(app: Any) -> Any | None:
    from deployments.app import INGRESS_NAME

    return next((d for d in app.deployments if d.name == INGRESS_NAME), None)


def _router_app(config: Any) -> Any | None:
    """The application whose ingress is the router."""
    return next((app for app in config.applications if _ingress(app) is not None), None)


def _local_profile(config: Any) -> bool:
    from router.core.config import parse_config

    router_app = _router_app(config)
    ingress = _ingress(router_app) if router_app is not None else None
    if ingress is None or not isinstance(ingress.user_config, dict):
        return False
    return parse_config(ingress.user_config).access.auth == "none"


def cmd_route(args: argparse.Namespace) -> int:
    from router.core.config import RouterConfig, load_config
    from router.core.errors import RouterError
    from router.decision.classification import load_classifier
    from router.evaluation.offline import offline_dispatcher, route_file

    try:
        config = load_config(args.config) if args.config else RouterConfig()
    except RouterError as exc:
        print(f"tiered-router: {exc.message}", file=sys.stderr)
        return 2
    source = Path(args.input)
    if not source.is_file():
        print(f"tiered-router: no such input file: {source}", file=sys.stderr)
        return 2
    classifier = load_classifier("learned", thresholds=config.thresholds)
    if classifier is None:
        print("tiered-router: no learned classifier is installed; every prompt starts at its lowest tier",
              file=sys.stderr)
    dispatcher = offline_dispatcher(config, classifier)
    with open(args.output, "w") as target:
        routed, refused = route_file(dispatcher, source, target, progress=not args.quiet)
    print(f"tiered-router: routed {routed} prompts, refused {refused}; decisions in {args.output}", file=sys.stderr)
    return 1 if refused else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiered-router", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the router on Ray Serve")
    serve_p.add_argument("--config", help="a Ray Serve config file (default: chosen by GPU presence)")
    serve_p.add_argument("--port", type=int, help="HTTP port (default: the config's, 8000)")
    serve_p.add_argument("--host", help="HTTP host (default: the config's)")
    serve_p.add_argument("--address", default=None, help="an existing Ray cluster to join (default: start one)")
    serve_p.add_argument("--verbose", action="store_true", help="show Ray's worker logs")
    serve_p.add_argument("--demo", action="store_true",
                         help="run offline on a tiny random-weight checkpoint built on the spot (answers are noise)")
    serve_p.add_argument("--demo-cache", help="where --demo keeps its checkpoint (default ~/.cache/tiered-router)")
    serve_p.set_defaults(func=cmd_serve)
    route_p = sub.add_parser("route", help="routing decisions for a JSONL file of prompts, offline")
    route_p.add_argument("--input", required=True, help='JSONL: {"id", "messages"} or {"id", "prompt"} per line')
    route_p.add_argument("--output", required=True, help='JSONL: {"id", "tier", "routing_score", "provider", "reasons"}')
    route_p.add_argument("--config", help="a router config YAML (default: the schema's defaults)")
    route_p.add_argument("--quiet", action="store_true", help="no progress bar")
    route_p.set_defaults(func=cmd_route)
    add_workspace_commands(sub, default_configs=serve_configs)
    add_eval_command(sub)
    add_tune_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "workspace_command", None) == "add-key":
            args.stray = [*args.stray, *extra]  # refused by add-key without repeating them: one may be a key
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
