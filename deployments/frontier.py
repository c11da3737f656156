"""Tier 3: the frontier pool. Tries providers in the configured strategy's order, falling back on failure.

Providers are built by ``models.factory`` (OpenAI-compatible HTTP, the OpenAI and Anthropic SDKs, or a local
model); a provider with weights to load loads them in the background like a model tier does.
"""

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from deployments.engine_slot import EngineSlot
from models.engine import Engine
from models.factory import build_engine
from router.config import ProviderConfig, RouterConfig, TierSettings, parse_config
from router.dispatcher import TierStatus
from router.errors import RateLimited, RouterError, TierUnavailable, UpstreamError
from router.generation import Generation, GenerationRequest, StreamDelta
from router.providers import strategy_for

log = logging.getLogger("ray.serve")

# A provider failing this way may be fine for the next request; the pool moves on to the next provider.
_FALL_THROUGH = (TierUnavailable, UpstreamError, RateLimited)


@dataclass
class _Member:
    config: ProviderConfig
    slot: EngineSlot


class FrontierPoolServer:
    def __init__(self, router_config: dict[str, Any] | None = None) -> None:
        self._members: list[_Member] = []
        self._settings: TierSettings | None = None
        self._config: RouterConfig | None = None
        if router_config is not None:
            self._apply(parse_config(router_config))

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = parse_config(user_config)
        if self._config is not None and config.frontier == self._config.frontier and config.tiers.frontier == self._settings:
            return
        old = self._members
        self._apply(config)
        for member in old:
            await member.slot.close()

    def _apply(self, config: RouterConfig) -> None:
        self._config, self._settings = config, config.tiers.frontier
        members = []
        for provider in strategy_for(config.frontier.strategy).order(config.frontier.providers):
            index = config.frontier.providers.index(provider)
            name = f"frontier provider {provider.name}"
            try:
                engine: Engine = build_engine(
                    provider, provider=provider.name, config_path=f"frontier.providers[{index}]",
                    timeout_s=self._settings.timeout_s,
                )
                slot = EngineSlot(engine, name=name)
            except RouterError as exc:
                slot = EngineSlot(None, exc.message, name=name)
                log.warning("frontier provider %s unavailable: %s", provider.name, exc.message)
            slot.ensure_started()
            members.append(_Member(provider, slot))
        self._members = members

    def _limits(self, request: GenerationRequest) -> dict[str, Any]:
        assert self._settings is not None
        max_tokens = min(request.max_tokens or self._settings.max_tokens, self._settings.max_tokens)
        temperature = self._settings.temperature if request.temperature is None else request.temperature
        return {"max_tokens": max_tokens, "temperature": temperature}

    def _no_providers(self, failures: list[str]) -> TierUnavailable:
        if not self._members:
            return TierUnavailable(
                "no frontier providers configured: add entries under frontier.providers", code="not_configured"
            )
        return TierUnavailable(
            "every frontier provider failed: " + "; ".join(failures), code="providers_exhausted",
            details={"providers": failures},
        )

    async def generate(self, request: GenerationRequest) -> Generation:
        failures: list[str] = []
        for member in self._members:
            try:
                return await member.slot.ready().generate(request, **self._limits(request))
            except _FALL_THROUGH as exc:
                failures.append(f"{member.config.name}: {exc.message}")
                if isinstance(exc, TierUnavailable):
                    member.slot.health.mark_down(exc.message)
        raise self._no_providers(failures)

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        failures: list[str] = []
        for member in self._members:
            started = False
            try:
                async for delta in member.slot.ready().stream(request, **self._limits(request)):
                    started = True
                    yield delta
                return
            except _FALL_THROUGH as exc:
                if started:
                    raise  # part of an answer has gone out: another provider cannot continue it
                failures.append(f"{member.config.name}: {exc.message}")
                if isinstance(exc, TierUnavailable):
                    member.slot.health.mark_down(exc.message)
        raise self._no_providers(failures)

    async def status(self) -> TierStatus:
        providers = []
        first_available: _Member | None = None
        for member in self._members:
            health = await member.slot.check()
            available, reason = health.available, health.reason
            if available and first_available is None:
                first_available = member
            providers.append({"name": member.config.name, "available": available, "reason": reason,
                              "tags": list(member.config.tags)})
        if first_available is None:
            reason = "no frontier providers configured: add entries under frontier.providers" if not providers else (
                "no frontier provider is available")
            return TierStatus(False, reason, detail={"providers": providers})
        return TierStatus(
            True, provider=first_available.config.name, model=first_available.config.model,
            detail={"providers": providers},
        )

    async def check_health(self) -> None:
        return None
