"""Builds the engine a tier or provider config names.

Building never loads a model: engines that hold weights (vllm, transformers) load them in ``start()``,
which the deployment runs in the background. ``engine: auto`` means a local model: vLLM where CUDA and
vLLM are both present, transformers otherwise.
"""

import importlib.util
import os
from collections.abc import Mapping

from models.engine import Engine
from router.config import EngineKind, ModelTierConfig, ProviderConfig
from router.errors import TierUnavailable

_DEFAULT_KEY_ENV = {EngineKind.anthropic: "ANTHROPIC_API_KEY", EngineKind.openai: "OPENAI_API_KEY"}


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_kind(kind: EngineKind) -> EngineKind:
    """``auto`` becomes the local engine this machine can run."""
    if kind != EngineKind.auto:
        return kind
    if importlib.util.find_spec("vllm") is not None and cuda_available():
        return EngineKind.vllm
    return EngineKind.transformers


def build_engine(
    config: ModelTierConfig | ProviderConfig, *, provider: str, config_path: str, timeout_s: float,
    environ: Mapping[str, str] | None = None, api_key: str | None = None,
) -> Engine:
    """Raise ``TierUnavailable`` with what to configure when the engine cannot be built.

    ``api_key`` (a workspace's own key) replaces the key the config names in the environment.
    """
    environ = os.environ if environ is None else environ
    kind = resolve_kind(config.engine)
    retry = {"timeout_s": timeout_s, "max_retries": config.max_retries, "min_interval_s": config.min_interval_s}
    context_length = config.context_length if isinstance(config, ModelTierConfig) else config.max_context

    if kind == EngineKind.openai_compatible:
        from models.openai_compatible import OpenAICompatibleEngine

        if not config.base_url:
            raise TierUnavailable(
                f"no endpoint configured: set {config_path}.base_url to an OpenAI-compatible server "
                f"(for example Ollama at http://127.0.0.1:11434/v1)",
                code="not_configured",
            )
        return OpenAICompatibleEngine(base_url=config.base_url, model=config.model, provider=provider,
                                      api_key=_api_key(config, kind, config_path, environ, required=False, override=api_key), **retry)

    if kind in (EngineKind.anthropic, EngineKind.openai):
        api_key = _api_key(config, kind, config_path, environ, required=True, override=api_key)
        if kind == EngineKind.anthropic:
            from models.anthropic_engine import AnthropicEngine

            return AnthropicEngine(model=config.model, provider=provider, api_key=api_key, base_url=config.base_url,
                                   **retry)
        from models.openai_engine import OpenAIEngine

        return OpenAIEngine(model=config.model, provider=provider, api_key=api_key, base_url=config.base_url, **retry)

    if kind == EngineKind.vllm:
        from models.vllm_engine import VllmEngine

        if importlib.util.find_spec("vllm") is None:
            raise TierUnavailable(
                f"{config_path}.engine is vllm, but vLLM is not installed here: install the 'gpu' extra on a CUDA "
                f"machine, or use engine: transformers (CPU) or auto", code="engine_unavailable")
        concurrency = getattr(config, "concurrency", None)
        return VllmEngine(
            model=config.model, provider=provider, model_path=config.model_path, context_length=context_length,
            gpu_memory_utilization=config.gpu_memory_utilization, max_num_seqs=config.max_num_seqs or concurrency,
            enable_prefix_caching=config.enable_prefix_caching, tensor_parallel_size=config.tensor_parallel_size,
            quantization=config.quantization,
        )

    if kind == EngineKind.transformers:
        from models.transformers_engine import TransformersEngine

        missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
        if missing:
            raise TierUnavailable(
                f"{config_path}.engine is {config.engine.value}, which runs on transformers, but "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: install the 'cpu' "
                f"extra (torch==2.13.0 first)", code="engine_unavailable")
        return TransformersEngine(model=config.model, provider=provider, model_path=config.model_path,
                                  device=config.device, context_length=context_length)

    raise TierUnavailable(f"{config_path}.engine {config.engine.value!r} is not known", code="engine_unavailable")


def _api_key(config: ModelTierConfig | ProviderConfig, kind: EngineKind, config_path: str,
             environ: Mapping[str, str], *, required: bool, override: str | None = None) -> str | None:
    if override is not None:
        return override
    name = config.api_key_env or _DEFAULT_KEY_ENV.get(kind)
    if name is None:
        return None
    key = environ.get(name)
    if not key and (required or config.api_key_env):
        raise TierUnavailable(
            f"{config_path}: the API key is read from {name}, which is not set in the environment"
            + ("" if config.api_key_env else f" (set {config_path}.api_key_env to read another variable)"),
            code="not_configured",
        )
    return key
