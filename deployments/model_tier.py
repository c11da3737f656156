"""One model behind the ``Engine`` interface, as a Ray Serve deployment class: Tier 1 (``micro``),
Tier 2 (``light``), or one frontier provider served inside the cluster (``provider:<name>``, e.g. the
70B model on the DGX Spark, placed there by a custom resource).

The deployment never fails its health check because the model is unreachable, unconfigured or cannot
be loaded: it stays up and reports itself unavailable with the reason, and the ingress routes around
it. Weights load in the background (``EngineSlot``), started by the first async call Serve makes
(``reconfigure`` right after construction), so the constructor returns at once.
"""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from deployments.engine_slot import EngineSlot
from models.factory import build_engine
from router.core.config import (
    ModelTierConfig,
    ProviderConfig,
    RouterConfig,
    TierSettings,
    parse_config,
)
from router.core.errors import RouterError, TierUnavailable
from router.core.generation import Generation, GenerationRequest, StreamDelta
from router.core.tiers import TierStatus, tier_limits
from router.telemetry.structured_logs import install_redaction

log = logging.getLogger("ray.serve")


class ModelTierServer:
    def __init__(self, tier: str, router_config: dict[str, Any] | None = None) -> None:
        if tier not in ("micro", "light") and not tier.startswith("provider:"):
            raise ValueError(f"tier must be 'micro', 'light' or 'provider:<name>', got {tier!r}")
        install_redaction(log)
        self.tier = tier
        self._settings: ModelTierConfig | ProviderConfig | None = None
        self._limits_from: TierSettings | None = None
        self._slot = EngineSlot(None, "waiting for configuration", name=tier)
        if router_config is not None:
            self._apply(parse_config(router_config))

    def _section(self, config: RouterConfig) -> tuple[ModelTierConfig | ProviderConfig, TierSettings, str, str]:
        """(engine settings, limits, config path, provider name) for what this replica serves."""
        if self.tier in ("micro", "light"):
            settings = getattr(config.tiers, self.tier)
            return settings, settings, f"tiers.{self.tier}", f"{self.tier}:{settings.model}"
        name = self.tier.removeprefix("provider:")
        for index, provider in enumerate(config.frontier.providers):
            if provider.name == name:
                return provider, config.tiers.frontier, f"frontier.providers[{index}]", name
        raise TierUnavailable(f"no provider named {name!r} under frontier.providers", code="not_configured")

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = parse_config(user_config)
        try:
            settings, limits, _, _ = self._section(config)
        except RouterError:
            settings, limits = None, None
        if (settings, limits) != (self._settings, self._limits_from):
            old = self._slot
            self._apply(config)
            await old.close()
        self._slot.ensure_started()

    def _apply(self, config: RouterConfig) -> None:
        try:
            settings, limits, path, provider = self._section(config)
            self._settings, self._limits_from = settings, limits
            engine = build_engine(settings, provider=provider, config_path=path, timeout_s=limits.timeout_s)
            self._slot = EngineSlot(engine, name=self.tier)
        except RouterError as exc:
            self._slot = EngineSlot(None, exc.message, name=self.tier)
            log.warning("%s unavailable: %s", self.tier, exc.message)
        self._slot.ensure_started()

    async def loaded(self) -> TierStatus:
        """Wait until the model has loaded (or failed to), then report: for start-up scripts and tests."""
        await self._slot.started()
        return await self.status()

    def _limits(self, request: GenerationRequest) -> dict[str, Any]:
        assert self._limits_from is not None
        return tier_limits(self._limits_from, request)

    @contextmanager
    def _marking_down(self) -> Iterator[None]:
        """A call that finds the model unreachable is fresher news than the last health check."""
        try:
            yield
        except TierUnavailable as exc:
            self._slot.health.mark_down(exc.message)
            raise

    async def generate(self, request: GenerationRequest) -> Generation:
        engine = self._slot.ready()
        with self._marking_down():
            return await engine.generate(request, **self._limits(request))

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        engine = self._slot.ready()
        with self._marking_down():
            async for delta in engine.stream(request, **self._limits(request)):
                yield delta

    async def status(self) -> TierStatus:
        health = await self._slot.check()
        engine = self._slot.engine
        if engine is None or self._settings is None:
            return TierStatus(False, health.reason, detail={"state": self._slot.state})
        return TierStatus(
            health.available, health.reason, provider=engine.provider, model=self._settings.model,
            detail={"state": self._slot.state, "tokens": engine.counters.as_dict(), "node": _node_id()},
        )

    async def check_health(self) -> None:
        # Liveness of the replica only; an unreachable or unloadable model is reported by status(), not by a
        # restart loop.
        return None


def _node_id() -> str | None:
    """The Ray node this replica runs on (None outside Ray), so /healthz shows where a model landed."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - diagnostics only
        return None
