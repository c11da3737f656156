"""``tiered-router serve --demo``: the serve config it deploys runs every tier offline on the tiny checkpoint."""

from pathlib import Path

from deployments.cli import build_parser, load_serve_config, prepare_demo
from models.kinds import EngineKind
from models.tiny import TINY_MODEL_NAME
from router.core.config import parse_config


def test_the_demo_config_puts_every_tier_on_the_tiny_checkpoint_and_names_it(tmp_path):
    path = prepare_demo(tmp_path)
    serve_config = load_serve_config(path, host=None, port=None)
    deployments = {d.name: d for d in serve_config.applications[0].deployments}
    assert set(deployments) == {"RouterIngress", "micro", "light", "frontier"}
    config = parse_config(deployments["RouterIngress"].user_config)
    local = [config.tiers.micro, config.tiers.light, *config.frontier.providers]
    assert len(local) == 3
    for tier in local:
        assert tier.engine == EngineKind.transformers and tier.device == "cpu"
        assert tier.model == TINY_MODEL_NAME  # what every answer reports as its model
        assert (Path(tier.model_path) / "model.safetensors").is_file()
    for name in ("micro", "light", "frontier"):
        assert deployments[name].user_config == deployments["RouterIngress"].user_config
        concurrency = config.tiers.frontier.concurrency if name == "frontier" else getattr(
            config.tiers, name).concurrency
        assert deployments[name].max_ongoing_requests == concurrency


def test_the_serve_command_takes_demo_and_a_cache_directory():
    args = build_parser().parse_args(["serve", "--demo", "--demo-cache", "/tmp/x"])
    assert args.demo and args.demo_cache == "/tmp/x"
