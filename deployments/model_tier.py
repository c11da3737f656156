"""Tiers 1 and 2: one model behind the ``Engine`` interface, as a Ray Serve deployment class.

The deployment never fails its health check because the model is unreachable, unconfigured or cannot
be loaded: it stays up and reports itself unavailable with the reason, and the ingress routes around
it. Weights load in the background (``EngineSlot``), started by the first async call Serve makes
(``reconfigure`` right after construction), so the constructor returns at once.
"""

import logging
from collections.abc import AsyncIterator
from typing import Any

from deployments.engine_slot import EngineSlot
from models.factory import build_engine
from router.config import ModelTierConfig, parse_config
from router.dispatcher import TierStatus
from router.errors import RouterError, TierUnavailable
from router.generation import Generation, GenerationRequest, StreamDelta

log = logging.getLogger("ray.serve")


class ModelTierServer:
    def __init__(self, tier: str, router_config: dict[str, Any] | None = None) -> None:
        if tier not in ("micro", "light"):
            raise ValueError(f"tier must be 'micro' or 'light', got {tier!r}")
        self.tier = tier
        self._settings: ModelTierConfig | None = None
        self._slot = EngineSlot(None, "waiting for configuration", name=f"tier {tier}")
        if router_config is not None:
            self._apply(getattr(parse_config(router_config).tiers, tier))

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        settings: ModelTierConfig = getattr(parse_config(user_config).tiers, self.tier)
        if settings != self._settings:
            old = self._slot
            self._apply(settings)
            await old.close()
        self._slot.ensure_started()

    def _apply(self, settings: ModelTierConfig) -> None:
        self._settings = settings
        try:
            engine = build_engine(
                settings, provider=f"{self.tier}:{settings.model}", config_path=f"tiers.{self.tier}",
                timeout_s=settings.timeout_s,
            )
            self._slot = EngineSlot(engine, name=f"tier {self.tier}")
        except RouterError as exc:
            self._slot = EngineSlot(None, exc.message, name=f"tier {self.tier}")
            log.warning("tier %s unavailable: %s", self.tier, exc.message)
        self._slot.ensure_started()

    async def loaded(self) -> TierStatus:
        """Wait until the model has loaded (or failed to), then report: for start-up scripts and tests."""
        await self._slot.started()
        return await self.status()

    def _limits(self, request: GenerationRequest, settings: ModelTierConfig) -> dict[str, Any]:
        max_tokens = min(request.max_tokens or settings.max_tokens, settings.max_tokens)
        temperature = settings.temperature if request.temperature is None else request.temperature
        return {"max_tokens": max_tokens, "temperature": temperature}

    async def generate(self, request: GenerationRequest) -> Generation:
        engine, settings = self._slot.ready(), self._settings
        assert settings is not None
        try:
            return await engine.generate(request, **self._limits(request, settings))
        except TierUnavailable as exc:
            self._slot.health.mark_down(exc.message)
            raise

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        engine, settings = self._slot.ready(), self._settings
        assert settings is not None
        try:
            async for delta in engine.stream(request, **self._limits(request, settings)):
                yield delta
        except TierUnavailable as exc:
            self._slot.health.mark_down(exc.message)
            raise

    async def status(self) -> TierStatus:
        health = await self._slot.check()
        engine = self._slot.engine
        if engine is None or self._settings is None:
            return TierStatus(False, health.reason, detail={"state": self._slot.state})
        return TierStatus(
            health.available, health.reason, provider=engine.provider, model=self._settings.model,
            detail={"state": self._slot.state, "tokens": engine.counters.as_dict()},
        )

    async def check_health(self) -> None:
        # Liveness of the replica only; an unreachable or unloadable model is reported by status(), not by a
        # restart loop.
        return None
