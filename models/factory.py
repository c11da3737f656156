"""Builds the engine a tier or provider config names."""

import os

from models.engine import Engine
from models.openai_compatible import OpenAICompatibleEngine
from router.config import EngineKind, ModelTierConfig, ProviderConfig
from router.errors import TierUnavailable


def build_engine(
    config: ModelTierConfig | ProviderConfig, *, provider: str, config_path: str, timeout_s: float
) -> Engine:
    """Raise ``TierUnavailable`` with what to configure when the engine cannot be built."""
    if config.engine == EngineKind.openai_compatible:
        if not config.base_url:
            raise TierUnavailable(
                f"no endpoint configured: set {config_path}.base_url to an OpenAI-compatible server "
                f"(for example Ollama at http://127.0.0.1:11434/v1)",
                code="not_configured",
            )
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if config.api_key_env and not api_key:
            raise TierUnavailable(
                f"{config_path}.api_key_env names {config.api_key_env}, which is not set in the environment",
                code="not_configured",
            )
        return OpenAICompatibleEngine(
            base_url=config.base_url, model=config.model, provider=provider, api_key=api_key, timeout_s=timeout_s
        )
    raise TierUnavailable(
        f"{config_path}.engine is {config.engine.value!r}, which this build does not provide yet; "
        f"use engine: openai_compatible with a base_url",
        code="engine_unavailable",
    )
