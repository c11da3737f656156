from pathlib import Path

import pytest
import yaml

from router.core.config import (
    ConfigInvalid,
    ProviderStrategy,
    RouterConfig,
    load_config,
    parse_config,
)
from tests.configs import provider, router_config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_the_documented_tiers_and_thresholds():
    config = RouterConfig()
    assert (config.tiers.micro.context_length, config.tiers.micro.max_tokens, config.tiers.micro.temperature) == (
        2048, 128, 0.0)
    assert (config.tiers.light.context_length, config.tiers.light.max_tokens, config.tiers.light.temperature) == (
        4096, 1024, 0.2)
    assert (config.thresholds.confidence, config.thresholds.complexity, config.thresholds.quality) == (0.75, 0.35, 0.70)
    assert (config.weights.complexity, config.weights.uncertainty, config.weights.hallucination_risk) == (0.4, 0.3, 0.3)
    assert config.frontier.strategy == ProviderStrategy.prefer_local
    assert config.frontier.daily_cap == 100


def test_a_yaml_file_loads_into_the_schema(tmp_path):
    document = router_config("http://127.0.0.1:1/v1", providers=[provider("dgx", "http://127.0.0.1:2/v1", tags=["dgx"])])
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(document))
    config = load_config(path)
    assert config.tiers.micro.base_url == "http://127.0.0.1:1/v1"
    assert config.frontier.providers[0].tags == ["dgx"]
    assert config.commands[0].name == "cert"


@pytest.mark.parametrize(
    ("patch", "path", "allowed"),
    [
        (lambda d: d["tiers"]["micro"].update(temperature=-1), "tiers.micro.temperature", "greater than or equal to 0"),
        (lambda d: d["frontier"].update(strategy="random"), "frontier.strategy", "'prefer_local'"),
        (lambda d: d["tiers"]["light"].update(max_tokens=9000), "tiers.light", "smaller than context_length"),
        (lambda d: d.update(weights={"complexity": 0.5, "uncertainty": 0.3, "hallucination_risk": 0.3}), "weights",
         "sum to 1.0"),
        (lambda d: d["commands"][0].update(pattern="([unclosed"), "commands[0].pattern", "regular expression"),
        (lambda d: d["commands"][0]["action"].update(type="shell"), "commands[0].action", "'respond', 'call', 'http'"),
    ],
)
def test_an_invalid_value_is_refused_with_its_path_value_and_what_is_allowed(patch, path, allowed):
    document = router_config()
    patch(document)
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(document)
    message = caught.value.message
    assert path in message
    assert allowed in message
    assert "got " in message


def test_a_misspelt_key_is_refused_and_the_allowed_keys_are_listed():
    document = router_config()
    document["thresholds"] = {"confidance": 0.8}
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(document)
    message = caught.value.message
    assert "thresholds.confidance: unknown field; allowed fields: complexity, confidence," in message
    assert "(got 0.8)" in message


def test_duplicate_provider_names_are_refused():
    document = router_config(providers=[provider("a", "http://x/v1"), provider("a", "http://y/v1")])
    with pytest.raises(ConfigInvalid, match="repeated: a"):
        parse_config(document)


def test_an_http_provider_without_an_endpoint_is_refused():
    entry = provider("a", "http://x/v1")
    del entry["base_url"]
    with pytest.raises(ConfigInvalid, match="needs base_url"):
        parse_config(router_config(providers=[entry]))


def test_a_missing_file_and_bad_yaml_say_so(tmp_path):
    with pytest.raises(ConfigInvalid, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [unclosed")
    with pytest.raises(ConfigInvalid, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.local.yaml", "serve_config.demo.yaml"])
def test_the_shipped_serve_configs_are_valid_and_consistent(name):
    """Valid under Ray Serve's own schema (load_serve_config uses ServeDeploySchema), every deployment
    they configure exists in the graph the builder makes, each tier's max_ongoing_requests matches its
    concurrency, every deployment gets the same router config, and every frontier provider has a price."""
    from deployments.app import AppArgs
    from deployments.cli import load_serve_config
    from router.frontier.pricing import PriceBook

    serve_config = load_serve_config(ROOT / name, host=None, port=None)
    app = serve_config.applications[0]
    assert app.import_path == "deployments.app:build_app"
    args = AppArgs.model_validate(app.args or {})
    built = {"RouterIngress", "micro", "light", "frontier"} | {f"provider-{p}" for p in args.provider_deployments}
    by_name = {d.name: d for d in app.deployments}
    assert set(by_name) <= built, f"configured deployments the builder does not make: {set(by_name) - built}"
    config = parse_config(by_name["RouterIngress"].user_config)
    for deployment in by_name.values():
        assert deployment.user_config == by_name["RouterIngress"].user_config
    for tier in ("micro", "light", "frontier"):
        assert by_name[tier].max_ongoing_requests == getattr(config.tiers, tier).concurrency
    PriceBook(config.frontier)  # raises for a provider genai-prices cannot price and the config does not


def test_the_production_config_pins_the_70b_to_the_dgx_spark_and_autoscales_the_tiers():
    from deployments.cli import load_serve_config

    app = load_serve_config(ROOT / "serve_config.yaml", host=None, port=None).applications[0]
    by_name = {d.name: d for d in app.deployments}
    assert app.args["provider_deployments"] == {"dgx-70b": "dgx_spark"}
    assert by_name["provider-dgx-70b"].ray_actor_options.resources == {"dgx_spark": 1}
    assert by_name["micro"].ray_actor_options.num_gpus + by_name["light"].ray_actor_options.num_gpus == 1
    config = parse_config(by_name["RouterIngress"].user_config)
    assert config.tiers.micro.gpu_memory_utilization + config.tiers.light.gpu_memory_utilization < 0.9
    for tier in ("micro", "light", "frontier"):
        autoscaling = by_name[tier].autoscaling_config
        assert autoscaling["max_replicas"] > autoscaling["min_replicas"] >= 1
    dgx = next(p for p in config.frontier.providers if p.name == "dgx-70b")
    assert dgx.engine.value == "vllm" and dgx.quantization and dgx.tensor_parallel_size >= 1


def test_the_serve_command_rejects_a_serve_config_whose_router_config_is_invalid(tmp_path):
    from deployments.cli import load_serve_config

    document = yaml.safe_load((ROOT / "serve_config.local.yaml").read_text())
    document["applications"][0]["deployments"][0]["user_config"]["thresholds"]["quality"] = 7
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SystemExit, match=r"thresholds.quality: Input should be less than or equal to 1 \(got 7\)"):
        load_serve_config(path, host=None, port=None)


def test_the_serve_command_says_when_it_runs_the_local_profile():
    from deployments.cli import _local_profile, load_serve_config

    assert _local_profile(load_serve_config(ROOT / "serve_config.local.yaml", host=None, port=None))
    assert not _local_profile(load_serve_config(ROOT / "serve_config.yaml", host=None, port=None))
