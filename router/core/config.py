"""The router's configuration: one pydantic schema, loaded from YAML, validated once.

The same document travels as the ingress deployment's ``user_config`` in the serve config
files, so a hot reload (``serve deploy`` with a changed ``user_config``) goes through
``RouterConfig.model_validate`` exactly like a file load does.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.kinds import ENGINE_KINDS, EngineKind
from router.core.cascade_settings import CascadeConfig
from router.core.errors import InvalidRequest
from router.core.telemetry_settings import TelemetryConfig
from router.core.validation import describe_validation_error


class ConfigInvalid(InvalidRequest):
    default_code = "config_invalid"


class _Strict(BaseModel):
    # Unknown keys are refused: a misspelt threshold must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class TierSettings(_Strict):
    """Limits every tier has, the frontier pool included."""

    context_length: int = Field(gt=0)
    max_tokens: int = Field(gt=0)
    temperature: float = Field(ge=0.0, le=2.0)
    timeout_s: float = Field(gt=0)
    concurrency: int = Field(gt=0, description="requests the tier serves at once")
    queue_wait_s: float = Field(
        default=0.25, ge=0, description="how long a request waits for a free slot before escalating instead"
    )

    @model_validator(mode="after")
    def _tokens_fit_context(self) -> "TierSettings":
        if self.max_tokens >= self.context_length:
            raise ValueError(
                f"max_tokens ({self.max_tokens}) must be smaller than context_length ({self.context_length})"
            )
        return self


class EngineOptions(_Strict):
    """How an engine reaches or loads its model; each field matters only to the engines it names."""

    max_retries: int = Field(
        default=2, ge=0, le=10,
        description="retries after a 429, a 5xx or a refused connection (HTTP/SDK engines), with jittered backoff "
                    "that honours Retry-After",
    )
    min_interval_s: float = Field(
        default=0.0, ge=0.0, description="least time between two calls to the upstream (HTTP/SDK engines); 0: none"
    )
    model_path: str | None = Field(
        default=None,
        description="vllm/transformers: a local checkpoint directory (or hub id) to load; default: `model`",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="transformers: where the weights go; auto: cuda when present, else cpu"
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0.0, le=1.0,
        description="vllm: share of the GPU's memory this engine may take; replicas sharing a GPU split it",
    )
    max_num_seqs: int | None = Field(
        default=None, gt=0, description="vllm: sequences batched at once; default: the tier's concurrency"
    )
    enable_prefix_caching: bool = Field(default=True, description="vllm: reuse the KV cache of shared prefixes")
    tensor_parallel_size: int = Field(default=1, gt=0, description="vllm: GPUs one model is split across")
    quantization: str | None = Field(
        default=None, description="vllm: quantization method (e.g. awq, gptq, fp8); default: the checkpoint's own"
    )


class ModelTierConfig(TierSettings, EngineOptions):
    """A tier served by one model (Tiers 1 and 2)."""

    model: str = Field(min_length=1)
    engine: EngineKind = EngineKind.openai_compatible
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama)"
    )
    api_key_env: str | None = Field(default=None, description="environment variable holding the key")


def _micro_default() -> ModelTierConfig:
    return ModelTierConfig(
        model="deepseek-r1:1.5b", context_length=2048, max_tokens=128, temperature=0.0, timeout_s=5.0, concurrency=8
    )


def _light_default() -> ModelTierConfig:
    return ModelTierConfig(
        model="deepseek-r1:1.5b", context_length=4096, max_tokens=1024, temperature=0.2, timeout_s=30.0, concurrency=4
    )


def _frontier_default() -> TierSettings:
    return TierSettings(context_length=131072, max_tokens=4096, temperature=0.7, timeout_s=120.0, concurrency=16)


class TiersConfig(_Strict):
    micro: ModelTierConfig = Field(default_factory=_micro_default)
    light: ModelTierConfig = Field(default_factory=_light_default)
    frontier: TierSettings = Field(default_factory=_frontier_default)


class Capability(str, Enum):
    json_mode = "json_mode"
    tools = "tools"
    vision = "vision"


class ProviderConfig(EngineOptions):
    """One member of the Tier 3 frontier pool."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    engine: EngineKind = EngineKind.openai_compatible
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    cost_per_1k_input: float | None = Field(
        default=None, ge=0.0,
        description="USD per 1,000 prompt tokens; overrides genai-prices. Unset: genai-prices, or the "
                    "amortised local price for providers tagged local/dgx",
    )
    cost_per_1k_output: float | None = Field(default=None, ge=0.0, description="USD per 1,000 completion tokens")
    cost_per_1k_cache_read: float | None = Field(
        default=None, ge=0.0, description="with the overrides: USD per 1,000 cached prompt tokens (default: input)"
    )
    cost_per_1k_cache_write: float | None = Field(
        default=None, ge=0.0, description="with the overrides: USD per 1,000 prompt tokens written to a cache"
    )
    quality: Probability = Field(description="relative answer quality, 0-1")
    max_context: int = Field(gt=0)
    tags: list[str] = Field(default_factory=list, description="e.g. local, dgx, cloud")
    capabilities: list[Capability] = Field(
        default_factory=list, description="what the model supports beyond plain chat: json_mode, tools, vision"
    )
    daily_cap: int | None = Field(default=None, ge=0, description="calls to this provider per UTC day; unset: none")

    @model_validator(mode="after")
    def _endpoint_for_http(self) -> "ProviderConfig":
        spec = ENGINE_KINDS.get(self.engine.value)
        if spec is not None and spec.endpoint_hint and not self.base_url:
            raise ValueError(f"provider {self.name!r}: engine {self.engine.value} needs base_url")
        return self

    @model_validator(mode="after")
    def _overrides_in_pairs(self) -> "ProviderConfig":
        # Half a price would silently bill the other half at genai-prices' rate or at nothing.
        if (self.cost_per_1k_input is None) != (self.cost_per_1k_output is None):
            raise ValueError(f"provider {self.name!r}: set both cost_per_1k_input and cost_per_1k_output, or neither")
        return self


def _unique_by_name(items: list[Any], what: str) -> list[Any]:
    names = [item.name for item in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(duplicates)}")
    return items


class ProviderStrategy(str, Enum):
    prefer_local = "prefer_local"
    cheapest_qualified = "cheapest_qualified"
    highest_quality = "highest_quality"


class FrontierConfig(_Strict):
    strategy: ProviderStrategy = ProviderStrategy.prefer_local
    daily_cap: int = Field(default=100, ge=0, description="frontier calls per UTC day, all providers together")
    local_cost_per_1k_tokens: float = Field(
        default=0.0, ge=0.0,
        description="amortised USD per 1,000 tokens (prompt or completion) on providers tagged local/dgx "
                    "without their own cost_per_1k_* (hardware and power over its life)",
    )
    cooldown_s: float = Field(default=30.0, ge=0.0, description="rest after a 429 that gives no Retry-After")
    health_check_interval_s: float = Field(
        default=15.0, gt=0, description="how often the pool checks every provider (and the local GPU)"
    )
    providers: list[ProviderConfig] = Field(default_factory=list)

    @field_validator("providers")
    @classmethod
    def _unique_names(cls, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        return _unique_by_name(providers, "provider")


class Thresholds(_Strict):
    confidence: Probability = Field(default=0.75, description="stay at Tier 1 only at or above this")
    complexity: Probability = Field(default=0.35, description="stay at Tier 1 only at or below this")
    quality: Probability = Field(default=0.70, description="Tier 2 escalates below this self-assessed quality")
    frontier_score: Probability = Field(default=0.60, description="routing score at which a request starts at Tier 3")
    max_reasoning_depth: int = Field(default=3, ge=1, description="Tier 2 escalates above this reasoning depth")
    light_context_tokens: int = Field(default=4096, gt=0, description="Tier 2 escalates above this prompt size")


class SignalWeights(_Strict):
    """How much each caller escalation signal raises the routing score."""

    low_confidence: Probability = Field(default=0.3, description="times (1 - the caller's confidence)")
    missing_citations: Probability = 0.15
    contradiction_ambiguity: Probability = 0.2
    synthesis_complexity: Probability = 0.3


class ClassifierConfig(_Strict):
    kind: Literal["learned", "micro"] = Field(
        default="learned", description="learned: the fast classifier alone; micro: ask the Tier 1 model"
    )
    prescreen: bool = Field(
        default=True, description="with kind micro: skip the model call when the learned classifier is sure"
    )
    max_attempts: int = Field(default=2, ge=1, description="invalid micro outputs before escalating to Tier 2")


class AgentPolicy(_Strict):
    preferred_tier: Literal[1, 2, 3] | None = None
    min_tier: Literal[1, 2, 3] | None = None
    max_tokens: dict[Literal[1, 2, 3], int] = Field(default_factory=dict, description="per-tier token caps")


class ScoreWeights(_Strict):
    complexity: Probability = 0.4
    uncertainty: Probability = 0.3
    hallucination_risk: Probability = 0.3

    @model_validator(mode="after")
    def _sum_to_one(self) -> "ScoreWeights":
        total = self.complexity + self.uncertainty + self.hallucination_risk
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1.0, got {total:g}")
        return self


class RespondAction(_Strict):
    type: Literal["respond"]
    template: str = Field(description="str.format template over the command's arguments")


class CallAction(_Strict):
    type: Literal["call"]
    app: str = Field(min_length=1, description="Ray Serve application name")
    deployment: str | None = Field(default=None, description="a deployment of that app; default its ingress")
    method: str = "__call__"
    timeout_s: float = Field(default=10.0, gt=0)


class HttpAction(_Strict):
    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


CommandAction = Annotated[RespondAction | CallAction | HttpAction, Field(discriminator="type")]

BUILTIN_COMMANDS = ("help", "status", "tiers")


class CommandConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    pattern: str = Field(description="regex matched against the whole last user message; named groups are arguments")
    description: str = ""
    action: CommandAction

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        import re

        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, name: str) -> str:
        if name in BUILTIN_COMMANDS:
            raise ValueError(f"{name!r} is a built-in command; built-ins are {', '.join(BUILTIN_COMMANDS)}")
        return name


class Limits(_Strict):
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_json_depth: int = Field(default=64, ge=4, le=512,
                                description="deepest nesting of arrays and objects a request body may have")
    max_input_chars: int = Field(default=10_000, gt=0)


class AccessConfig(_Strict):
    auth: Literal["workspace_key", "none"] = Field(
        default="workspace_key",
        description="workspace_key: every request needs 'Authorization: Bearer <workspace key>'; "
        "none: the local profile, where requests without a key run as the default 'local' workspace",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL or SQLite path; None: $TIERED_ROUTER_DB, else ~/.tiered-router/router.db"
    )


class RouterConfig(_Strict):
    tiers: TiersConfig = Field(default_factory=TiersConfig)
    frontier: FrontierConfig = Field(default_factory=FrontierConfig)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    signal_weights: SignalWeights = Field(default_factory=SignalWeights)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    agents: dict[str, AgentPolicy] = Field(default_factory=dict)
    commands: list[CommandConfig] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    access: AccessConfig = Field(default_factory=AccessConfig)
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)

    @model_validator(mode="after")
    def _cascade_provider_is_local(self) -> "RouterConfig":
        name = self.cascade.provider
        if name is None:
            return self
        provider = next((p for p in self.frontier.providers if p.name == name), None)
        if provider is None:
            raise ValueError(f"cascade.second_opinion names provider {name!r}, which is not under frontier.providers")
        if not {"local", "dgx"} & set(provider.tags):
            raise ValueError(f"cascade.second_opinion: provider {name!r} is not tagged local or dgx; a second opinion "
                             "must not pay a cloud bill on every request")
        return self

    @field_validator("commands")
    @classmethod
    def _unique_commands(cls, commands: list[CommandConfig]) -> list[CommandConfig]:
        return _unique_by_name(commands, "command")


def parse_config(data: Any, *, source: str = "router config") -> RouterConfig:
    """Validate a mapping (from YAML or a serve ``user_config``) into a ``RouterConfig``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigInvalid(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalid(f"{source} is invalid:\n" + describe_validation_error(exc, RouterConfig)) from None


def load_config(path: str | Path) -> RouterConfig:
    """Load and validate a YAML router config file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigInvalid(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigInvalid(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, source=str(path))
