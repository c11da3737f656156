"""Tier 3: the frontier pool. Tries providers in the configured strategy's order, falling back on failure.

Providers are built by ``models.factory`` (OpenAI-compatible HTTP, the OpenAI and Anthropic SDKs, or a local
model); a provider with weights to load loads them in the background like a model tier does.
"""

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet

from deployments.engine_slot import EngineSlot
from deployments.handle_engine import HandleEngine
from models.engine import Engine
from models.factory import build_engine
from router.core.config import ProviderConfig, RouterConfig, TierSettings, parse_config
from router.core.tiers import TierStatus
from router.core.errors import ESCALATABLE_ERRORS, RouterError, TierUnavailable
from router.frontier.ledger import Admitted, FrontierLedger, Refusal
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage
from deployments.gpu import query_gpus, under_memory_pressure
from router.frontier.keys import ProviderCredential, ProviderKeyStore, load_cipher
from router.frontier.providers import strategy_for
from router.storage.database import Database, database_url
from router.storage.workspaces import Workspace, WorkspaceStore

log = logging.getLogger("ray.serve")

_KEYED_ENGINES_PER_PROVIDER = 32
_NOT_CONFIGURED = "no frontier providers configured: add entries under frontier.providers"


@dataclass
class _Member:
    config: ProviderConfig
    slot: EngineSlot
    index: int
    keyed: "OrderedDict[str, Engine]" = field(default_factory=OrderedDict)  # engines holding a workspace's own key


class FrontierPoolServer:
    def __init__(self, router_config: dict[str, Any] | None = None,
                 served: dict[str, tuple[Any, str | None]] | None = None) -> None:
        """``served``: providers served by deployments of this app (provider name -> (handle,
        placement resource)); they are called through their handles instead of over the network."""
        self._served = served or {}
        self._members: list[_Member] = []
        self._by_name: dict[str, _Member] = {}
        self._settings: TierSettings | None = None
        self._config: RouterConfig | None = None
        self._db: Database | None = None
        self._ledger: FrontierLedger | None = None
        self._workspaces: WorkspaceStore | None = None
        self._health_loop: asyncio.Task[None] | None = None
        if router_config is not None:
            self._apply(parse_config(router_config))

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        if self._health_loop is None:
            self._health_loop = asyncio.get_running_loop().create_task(self._check_periodically())
        config = parse_config(user_config)
        if self._config is not None and config.frontier == self._config.frontier and \
                config.tiers.frontier == self._settings and config.access == self._config.access:
            return
        old = self._members
        self._apply(config)
        for member in old:
            await member.slot.close()
            for engine in member.keyed.values():
                await engine.close()

    def _apply(self, config: RouterConfig) -> None:
        if self._config is None or config.access != self._config.access:
            self._open_ledger_store(config)
        self._config, self._settings = config, config.tiers.frontier
        assert self._db is not None
        self._ledger = FrontierLedger(config.frontier, self._db, self._keys)
        members = []
        # The order requests try them in (the ledger's prices), so status() names the provider tried first.
        ordered = strategy_for(config.frontier.strategy).order(config.frontier.providers,
                                                              self._ledger.prices.blended_per_1k)
        for provider in ordered:
            index = config.frontier.providers.index(provider)
            name = f"frontier provider {provider.name}"
            try:
                if provider.name in self._served:
                    handle, resource = self._served[provider.name]
                    engine: Engine = HandleEngine(handle, provider=provider.name, model=provider.model,
                                                  resource=resource)
                else:
                    engine = build_engine(
                        provider, provider=provider.name, config_path=f"frontier.providers[{index}]",
                        timeout_s=self._settings.timeout_s,
                    )
                slot = EngineSlot(engine, name=name)
            except RouterError as exc:
                slot = EngineSlot(None, exc.message, name=name)
                log.warning("frontier provider %s unavailable: %s", provider.name, exc.message)
            slot.ensure_started()
            members.append(_Member(provider, slot, index))
        self._members = members
        self._by_name = {m.config.name: m for m in members}

    def _open_ledger_store(self, config: RouterConfig) -> None:
        if self._db is not None:
            self._db.close()
        self._db = Database(database_url(config.access.database_url))
        self._workspaces = WorkspaceStore(self._db)
        try:
            cipher = load_cipher()
        except RouterError as exc:
            # Without the master key no stored workspace key can be read; server keys still work.
            log.warning("workspace provider keys are unreadable: %s", exc.message)
            cipher = Fernet(Fernet.generate_key())
        self._keys = ProviderKeyStore(self._db, cipher)

    def _limits(self, request: GenerationRequest) -> dict[str, Any]:
        """The tier's limits for this request, before each provider clips max_tokens to its context."""
        assert self._settings is not None
        max_tokens = min(request.max_tokens or self._settings.max_tokens, self._settings.max_tokens)
        temperature = self._settings.temperature if request.temperature is None else request.temperature
        return {"max_tokens": max_tokens, "temperature": temperature}

    def _call_limits(self, admitted: Admitted, request: GenerationRequest) -> dict[str, Any]:
        """Exactly the completion budget the ledger reserved for this provider."""
        return {**self._limits(request), "max_tokens": admitted.candidate.estimate.max_completion_tokens}

    async def _workspace(self, request: GenerationRequest) -> Workspace:
        assert self._workspaces is not None
        if request.workspace_id is None:
            return await self._workspaces.db.run(self._workspaces.ensure_local)
        return await self._workspaces.aget(request.workspace_id)

    def _engine_for(self, member: _Member, credential: ProviderCredential) -> Engine:
        """The provider's engine, or a copy holding the workspace's own key (cached by its fingerprint)."""
        if credential.source != "workspace":
            return member.slot.ready()
        secret = credential.reveal()
        assert secret is not None and self._settings is not None
        fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:24]
        engine = member.keyed.get(fingerprint)
        if engine is None:
            engine = build_engine(member.config, provider=member.config.name, timeout_s=self._settings.timeout_s,
                                  config_path=f"frontier.providers[{member.index}]", api_key=secret)
            member.keyed[fingerprint] = engine
            if len(member.keyed) > _KEYED_ENGINES_PER_PROVIDER:
                member.keyed.popitem(last=False)  # the oldest; its connections close when collected
        member.keyed.move_to_end(fingerprint)
        return engine

    async def _admissions(self, request: GenerationRequest) -> AsyncIterator[tuple[_Member, Admitted, list, list]]:
        """Each provider the ledger admits, in order; a Refusal is noted and skipped. Raises the
        ledger's verdict (402 budget, or 503 with every reason) when none is left."""
        assert self._ledger is not None
        if not self._members:
            raise TierUnavailable(_NOT_CONFIGURED, code="not_configured")
        workspace = await self._workspace(request)
        limits = self._limits(request)
        plan = self._ledger.plan(workspace, request.messages, max_tokens=limits["max_tokens"],
                                 min_completion_tokens=request.max_tokens or 1)
        refusals: list[Refusal] = []
        failures: list[str] = []
        notes = [f"{name}: {why}" for name, why in plan.excluded.items()]
        for candidate in plan.candidates:
            member = self._by_name[candidate.provider.name]
            try:
                member.slot.ready()  # not admitted while loading or failed: nothing reserved or marked down
            except TierUnavailable:
                failures.append(f"{member.config.name}: {member.slot.reason()}")
                continue
            admitted = await self._ledger.admit(workspace, request.request_id, candidate, plan.prompt)
            if isinstance(admitted, Refusal):
                refusals.append(admitted)
                notes.append(f"{admitted.provider}: {admitted.reason}")
                continue
            yield member, admitted, failures, notes
        raise self._ledger.exhausted(plan, refusals, failures)

    async def _fail(self, member: _Member, admitted: Admitted, exc: BaseException, failures: list[str]) -> None:
        assert self._ledger is not None
        if isinstance(exc, RouterError):
            failures.append(f"{member.config.name}: {exc.message}")
            if isinstance(exc, TierUnavailable):  # admitted only when ready, so this is the engine's own health
                member.slot.health.mark_down(exc.message)
        await self._ledger.fail(admitted, exc)

    async def generate(self, request: GenerationRequest) -> Generation:
        assert self._ledger is not None
        async for member, admitted, failures, notes in self._admissions(request):
            try:
                answer = await self._engine_for(member, admitted.credential).generate(request, **self._call_limits(admitted, request))
            except ESCALATABLE_ERRORS as exc:  # this provider failed; the next may answer
                await self._fail(member, admitted, exc, failures)
                continue
            except BaseException as exc:  # cancelled or broken: the reservation must still be released
                await self._fail(member, admitted, exc, failures)
                raise
            cost = await self._ledger.succeed(admitted, answer.usage)
            return answer.model_copy(update={"cost_usd": cost.total_usd, "skipped": notes + failures})
        raise AssertionError("unreachable: _admissions raises when no provider is left")

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        assert self._ledger is not None
        async for member, admitted, failures, notes in self._admissions(request):
            started = False
            last: StreamDelta | None = None
            try:
                engine = self._engine_for(member, admitted.credential)
                async for delta in engine.stream(request, **self._call_limits(admitted, request)):
                    if delta.usage is not None:
                        last = delta  # the final delta: settle before it goes out, so it can carry the cost
                        break
                    if not started and (notes or failures):
                        delta = delta.model_copy(update={"skipped": notes + failures})
                    started = True
                    yield delta
            except ESCALATABLE_ERRORS as exc:  # this provider failed; the next may answer
                await self._fail(member, admitted, exc, failures)
                if started:
                    raise  # part of an answer has gone out: another provider cannot continue it
                continue
            except BaseException as exc:
                await self._fail(member, admitted, exc, failures)
                raise
            usage = last.usage if last is not None else None
            cost = await self._ledger.succeed(admitted, usage or Usage())
            if last is not None:
                yield last.model_copy(update={"cost_usd": cost.total_usd})
            return

    async def _check_periodically(self) -> None:
        """Providers marked down come back only through a passing check, so checks run on a clock."""
        while True:
            assert self._config is not None
            await asyncio.sleep(self._config.frontier.health_check_interval_s)
            try:
                await self.status()
                under_memory_pressure(await asyncio.to_thread(query_gpus))  # it logs each pressed GPU
            except Exception:  # noqa: BLE001 - a failed round must not end the loop
                log.exception("frontier health check round failed")

    async def status(self) -> TierStatus:
        providers = []
        first_available: _Member | None = None
        for member in self._members:
            health = await member.slot.check()
            if self._ledger is not None:
                self._ledger.health.availability.record_check(member.config.name, health.available, health.reason)
                why = self._ledger.health.why_unavailable(member.config.name)
                if health.available and why:  # cooling down after a 429
                    health = type(health)(False, why)
            available, reason = health.available, health.reason
            if available and first_available is None:
                first_available = member
            providers.append({"name": member.config.name, "available": available, "reason": reason,
                              "state": member.slot.state, "tags": list(member.config.tags)})
        if first_available is None:
            reason = _NOT_CONFIGURED if not providers else (
                "no frontier provider is available")
            return TierStatus(False, reason, detail={"providers": providers})
        return TierStatus(
            True, provider=first_available.config.name, model=first_available.config.model,
            detail={"providers": providers},
        )

    async def check_health(self) -> None:
        return None
