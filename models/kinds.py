"""Every engine kind in one table: what ``engine:`` may name in the config, how the factory builds it, how
pricing looks it up.

Adding a provider is one engine module (an ``Engine`` subclass with a ``from_config`` class method) and one
row here. This module imports only the standard library, because router/'s config schema and pricing read
it and router/ may import no model SDK.
"""

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class EngineKindSpec:
    engine: str  # "module:Class", imported only when one is built
    packages: tuple[str, ...] = ()  # modules that must be importable to build it
    install_hint: str = ""  # what to do when one of them is missing
    endpoint_hint: str | None = None  # set: the kind needs base_url, and this says what to point it at
    key_env: str | None = None  # where its API key is read from by default
    key_required: bool = False
    genai_provider_id: str | None = None  # genai-prices' provider id, where genai-prices prices the kind
    loads_weights: bool = False  # holds a model itself (start() loads weights)


ENGINE_KINDS: dict[str, EngineKindSpec] = {
    "vllm": EngineKindSpec(
        "models.vllm_engine:VllmEngine", packages=("vllm",), loads_weights=True,
        install_hint="install the 'gpu' extra on a CUDA machine, or use engine: transformers (CPU) or auto"),
    "transformers": EngineKindSpec(
        "models.transformers_engine:TransformersEngine", packages=("torch", "transformers"), loads_weights=True,
        install_hint="install the 'cpu' extra (torch==2.13.0 first)"),
    "anthropic": EngineKindSpec(
        "models.anthropic_engine:AnthropicEngine", key_env="ANTHROPIC_API_KEY", key_required=True,
        genai_provider_id="anthropic"),
    "openai": EngineKindSpec(
        "models.openai_engine:OpenAIEngine", key_env="OPENAI_API_KEY", key_required=True, genai_provider_id="openai"),
    "openai_compatible": EngineKindSpec(
        "models.openai_compatible:OpenAICompatibleEngine",
        endpoint_hint="an OpenAI-compatible server (for example Ollama at http://127.0.0.1:11434/v1)"),
}

AUTO = "auto"  # a local model: vllm where CUDA and vLLM are present, else transformers
LOCAL_KINDS = ("vllm", "transformers")  # what auto may become, best first

# The config schema's choices: auto plus every row above.
EngineKind = Enum(  # type: ignore[misc]
    "EngineKind", [(AUTO, AUTO), *((name, name) for name in ENGINE_KINDS)], type=str, module=__name__,
    qualname="EngineKind")
