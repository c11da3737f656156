"""Builds the engine a tier or provider config names, from the engine-kind table (``models.kinds``).

Building never loads a model: engines that hold weights (vllm, transformers) load them in ``start()``,
which the deployment runs in the background. ``engine: auto`` means a local model: vLLM where CUDA and
vLLM are both present, transformers otherwise. The checks every kind shares (its packages are installed,
its endpoint is set, its API key is found) happen here, once; the engine's ``from_config`` does the rest.
"""

import importlib
import importlib.util
import os
from collections.abc import Mapping

from models.engine import Engine, EngineBuild
from models.kinds import ENGINE_KINDS, EngineKind, EngineKindSpec
from router.core.config import ModelTierConfig, ProviderConfig
from router.core.errors import TierUnavailable


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


def engine_class(spec: EngineKindSpec) -> type[Engine]:
    module, _, name = spec.engine.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, Engine), f"{spec.engine} is not an Engine"
    return cls


def build_engine(
    config: ModelTierConfig | ProviderConfig, *, provider: str, config_path: str, timeout_s: float,
    environ: Mapping[str, str] | None = None, api_key: str | None = None,
) -> Engine:
    """Raise ``TierUnavailable`` with what to configure when the engine cannot be built.

    ``api_key`` (a workspace's own key) replaces the key the config names in the environment.
    """
    environ = os.environ if environ is None else environ
    kind = resolve_kind(config.engine)
    spec = ENGINE_KINDS[kind.value]
    missing = [name for name in spec.packages if importlib.util.find_spec(name) is None]
    if missing:
        runs_on = "" if kind == config.engine else f", which runs on {kind.value}"
        raise TierUnavailable(
            f"{config_path}.engine is {config.engine.value}{runs_on}, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed here: {spec.install_hint}",
            code="engine_unavailable")
    if spec.endpoint_hint and not config.base_url:
        raise TierUnavailable(f"no endpoint configured: set {config_path}.base_url to {spec.endpoint_hint}",
                              code="not_configured")
    build = EngineBuild(
        provider=provider, timeout_s=timeout_s,
        context_length=config.context_length if isinstance(config, ModelTierConfig) else config.max_context,
        api_key=_api_key(config, spec, config_path, environ, override=api_key),
        concurrency=getattr(config, "concurrency", None),
    )
    return engine_class(spec).from_config(config, build)


def _api_key(config: ModelTierConfig | ProviderConfig, spec: EngineKindSpec, config_path: str,
             environ: Mapping[str, str], *, override: str | None = None) -> str | None:
    if override is not None:
        return override
    name = config.api_key_env or spec.key_env
    if name is None:
        return None
    key = environ.get(name)
    if not key and (spec.key_required or config.api_key_env):
        raise TierUnavailable(
            f"{config_path}: the API key is read from {name}, which is not set in the environment"
            + ("" if config.api_key_env else f" (set {config_path}.api_key_env to read another variable)"),
            code="not_configured",
        )
    return key
