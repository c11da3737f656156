"""Tiers 1 and 2: one model behind the ``Engine`` interface, as a Ray Serve deployment class.

The deployment never fails its health check because the model is unreachable or unconfigured:
it stays up and reports itself unavailable with the reason, and the ingress routes around it.
"""

import logging
from collections.abc import AsyncIterator
from typing import Any

from deployments.health_cache import HealthCache
from models.engine import Engine
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
        self._engine: Engine | None = None
        self._problem = "waiting for configuration"
        self._health = HealthCache()
        if router_config is not None:
            self._apply(getattr(parse_config(router_config).tiers, tier))

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        settings: ModelTierConfig = getattr(parse_config(user_config).tiers, self.tier)
        if settings == self._settings:
            return
        old = self._engine
        self._apply(settings)
        if old is not None:
            await old.close()

    def _apply(self, settings: ModelTierConfig) -> None:
        self._engine, self._settings, self._health = None, settings, HealthCache()
        try:
            self._engine = build_engine(
                settings, provider=f"{self.tier}:{settings.model}", config_path=f"tiers.{self.tier}",
                timeout_s=settings.timeout_s,
            )
            self._problem = ""
        except RouterError as exc:
            self._problem = exc.message
            log.warning("tier %s unavailable: %s", self.tier, exc.message)

    def _ready(self) -> tuple[Engine, ModelTierConfig]:
        if self._engine is None or self._settings is None:
            raise TierUnavailable(f"tier {self.tier} is unavailable: {self._problem}", code="tier_unavailable")
        return self._engine, self._settings

    def _limits(self, request: GenerationRequest, settings: ModelTierConfig) -> dict[str, Any]:
        max_tokens = min(request.max_tokens or settings.max_tokens, settings.max_tokens)
        temperature = settings.temperature if request.temperature is None else request.temperature
        return {"max_tokens": max_tokens, "temperature": temperature}

    async def generate(self, request: GenerationRequest) -> Generation:
        engine, settings = self._ready()
        try:
            return await engine.generate(request, **self._limits(request, settings))
        except TierUnavailable as exc:
            self._health.mark_down(exc.message)
            raise

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        engine, settings = self._ready()
        try:
            async for delta in engine.stream(request, **self._limits(request, settings)):
                yield delta
        except TierUnavailable as exc:
            self._health.mark_down(exc.message)
            raise

    async def status(self) -> TierStatus:
        if self._engine is None or self._settings is None:
            return TierStatus(False, self._problem)
        health = await self._health.get(self._engine)
        return TierStatus(health.available, health.reason, provider=self._engine.provider, model=self._settings.model)

    async def check_health(self) -> None:
        # Liveness of the replica only; an unreachable model is reported by status(), not by a restart loop.
        return None
