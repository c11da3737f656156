"""``engine:`` in the config picks the backend; a backend that cannot be built says what to configure."""

import importlib.util

import pytest

from models.anthropic_engine import AnthropicEngine
from models.factory import build_engine, resolve_kind
from models.kinds import EngineKind
from models.openai_compatible import OpenAICompatibleEngine
from models.openai_engine import OpenAIEngine
from models.transformers_engine import TransformersEngine
from models.vllm_engine import VllmEngine
from router.core.config import ModelTierConfig, ProviderConfig
from router.core.errors import TierUnavailable

TIER = {"model": "deepseek-r1:1.5b", "context_length": 2048, "max_tokens": 128, "temperature": 0.0,
        "timeout_s": 5.0, "concurrency": 8}


def tier(**overrides) -> ModelTierConfig:
    return ModelTierConfig(**{**TIER, **overrides})


def provider(**overrides) -> ProviderConfig:
    return ProviderConfig(**{"name": "p", "model": "m", "cost_per_1k_input": 0.0, "cost_per_1k_output": 0.0,
                             "quality": 0.9, "max_context": 32768, **overrides})


def build(config, environ=None):
    return build_engine(config, provider="p", config_path="tiers.micro", timeout_s=5.0, environ=environ or {})


def test_auto_is_transformers_without_cuda_and_vllm():
    has_gpu_stack = importlib.util.find_spec("vllm") is not None
    if has_gpu_stack:
        pytest.skip("vLLM is installed here")
    assert resolve_kind(EngineKind.auto) == EngineKind.transformers
    engine = build(tier(engine="auto", model_path="/models/r1", device="cpu"))
    assert isinstance(engine, TransformersEngine)
    assert (engine.source, engine.context_length, engine.device_setting) == ("/models/r1", 2048, "cpu")


def test_vllm_without_vllm_is_unavailable_and_names_the_extra():
    if importlib.util.find_spec("vllm") is not None:
        engine = build(tier(engine="vllm", gpu_memory_utilization=0.3))
        assert isinstance(engine, VllmEngine) and engine.engine_options["max_num_seqs"] == 8
        return
    with pytest.raises(TierUnavailable, match="'gpu' extra") as caught:
        build(tier(engine="vllm"))
    assert caught.value.code == "engine_unavailable"


@pytest.mark.parametrize(("kind", "cls", "variable"), [("anthropic", AnthropicEngine, "ANTHROPIC_API_KEY"),
                                                       ("openai", OpenAIEngine, "OPENAI_API_KEY")])
def test_sdk_providers_need_their_key_and_get_the_retry_settings(kind, cls, variable):
    with pytest.raises(TierUnavailable, match=variable):
        build(provider(engine=kind))
    engine = build(provider(engine=kind, max_retries=4, min_interval_s=1.5), {variable: "secret"})
    assert isinstance(engine, cls)
    assert (engine._resilience.policy.max_retries, engine._resilience.policy.min_interval_s) == (4, 1.5)
    named = build(provider(engine=kind, api_key_env="TEAM_KEY"), {"TEAM_KEY": "secret"})
    assert isinstance(named, cls)


def test_openai_compatible_needs_an_endpoint():
    with pytest.raises(TierUnavailable, match="base_url") as caught:
        build(tier(engine="openai_compatible"))
    assert caught.value.code == "not_configured"
    engine = build(tier(engine="openai_compatible", base_url="http://127.0.0.1:11434/v1", max_retries=0))
    assert isinstance(engine, OpenAICompatibleEngine) and engine._resilience.policy.max_retries == 0


def test_every_engine_kind_row_names_an_engine_that_builds_from_its_config():
    from models.engine import Engine
    from models.factory import engine_class
    from models.kinds import ENGINE_KINDS

    assert {k.value for k in EngineKind} == {"auto", *ENGINE_KINDS}
    for name, spec in ENGINE_KINDS.items():
        cls = engine_class(spec)
        assert issubclass(cls, Engine) and cls.from_config.__func__ is not Engine.from_config.__func__, name


def test_a_kind_that_needs_an_endpoint_is_refused_by_the_schema_without_one():
    with pytest.raises(ValueError, match="engine openai_compatible needs base_url"):
        provider(engine="openai_compatible")
