"""Tier 3 on Ray: the frontier pool's deployment. ``router.frontier.pool.FrontierPool`` decides and settles;
this adapter builds its providers' engines (``models.factory``, or a handle to a provider deployment of this
app), rebuilds the pool on ``reconfigure`` and checks every provider (and the local GPU) on a clock.

A provider with weights to load loads them in the background like a model tier does.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from cryptography.fernet import Fernet

from deployments.engine_slot import EngineSlot
from deployments.gpu import query_gpus, under_memory_pressure
from deployments.handle_engine import HandleEngine
from deployments.metrics import router_metrics
from models.engine import Engine, EngineHealth
from models.factory import build_engine
from router.core.config import ProviderConfig, RouterConfig, parse_config
from router.core.errors import RouterError
from router.core.generation import Generation, GenerationRequest, StreamDelta
from router.core.tiers import TierStatus
from router.frontier.keys import ProviderKeyStore, load_cipher
from router.frontier.ledger import FrontierLedger
from router.frontier.pool import FrontierPool
from router.storage.database import Database, database_url
from router.storage.workspaces import WorkspaceStore
from router.telemetry.structured_logs import install_redaction

log = logging.getLogger("ray.serve")


class SlotProvider:
    """A ``router.frontier.pool.ProviderEndpoint`` over an ``EngineSlot``."""

    def __init__(self, config: ProviderConfig, slot: EngineSlot, index: int, timeout_s: float) -> None:
        self.config, self.slot, self._index, self._timeout_s = config, slot, index, timeout_s

    @property
    def state(self) -> str:
        return self.slot.state

    def ready(self) -> Engine:
        return self.slot.ready()

    def reason(self) -> str:
        return self.slot.reason()

    def mark_down(self, reason: str) -> None:
        self.slot.health.mark_down(reason)

    async def check(self) -> EngineHealth:
        return await self.slot.check()

    def with_key(self, api_key: str) -> Engine:
        return build_engine(self.config, provider=self.config.name, timeout_s=self._timeout_s,
                            config_path=f"frontier.providers[{self._index}]", api_key=api_key)

    async def close(self) -> None:
        await self.slot.close()


class FrontierPoolServer:
    def __init__(self, router_config: dict[str, Any] | None = None,
                 served: dict[str, tuple[Any, str | None]] | None = None) -> None:
        """``served``: providers served by deployments of this app (provider name -> (handle,
        placement resource)); they are called through their handles instead of over the network."""
        install_redaction(log)
        self._served = served or {}
        self._config: RouterConfig | None = None
        self._db: Database | None = None
        self._workspaces: WorkspaceStore | None = None
        self._keys: ProviderKeyStore | None = None
        self._pool: FrontierPool | None = None
        self._health_loop: asyncio.Task[None] | None = None
        if router_config is not None:
            self._apply(parse_config(router_config))

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        if self._health_loop is None:
            self._health_loop = asyncio.get_running_loop().create_task(self._check_periodically())
        config = parse_config(user_config)
        old = self._config
        if old is not None and (config.frontier, config.tiers.frontier, config.access) == \
                (old.frontier, old.tiers.frontier, old.access):
            return
        previous = self._pool
        self._apply(config)
        if previous is not None:
            await previous.close()

    def _apply(self, config: RouterConfig) -> None:
        if self._config is None or config.access != self._config.access:
            self._open_ledger_store(config)
        assert self._db is not None and self._keys is not None and self._workspaces is not None
        self._config = config
        ledger = FrontierLedger(config.frontier, self._db, self._keys)
        providers = [self._provider(p, index, config) for index, p in enumerate(config.frontier.providers)]
        self._pool = FrontierPool(providers, ledger, self._workspaces, config.tiers.frontier)

    def _provider(self, provider: ProviderConfig, index: int, config: RouterConfig) -> SlotProvider:
        name = f"frontier provider {provider.name}"
        timeout_s = config.tiers.frontier.timeout_s
        try:
            if provider.name in self._served:
                handle, resource = self._served[provider.name]
                engine: Engine = HandleEngine(handle, provider=provider.name, model=provider.model,
                                              resource=resource)
            else:
                engine = build_engine(provider, provider=provider.name, config_path=f"frontier.providers[{index}]",
                                      timeout_s=timeout_s)
            slot = EngineSlot(engine, name=name)
        except RouterError as exc:
            slot = EngineSlot(None, exc.message, name=name)
            log.warning("frontier provider %s unavailable: %s", provider.name, exc.message)
        slot.ensure_started()
        return SlotProvider(provider, slot, index, timeout_s)

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

    @property
    def pool(self) -> FrontierPool:
        assert self._pool is not None, "configured in the constructor or by reconfigure"
        return self._pool

    async def generate(self, request: GenerationRequest) -> Generation:
        return await self.pool.generate(request)

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        async for delta in self.pool.stream(request):
            yield delta

    async def status(self) -> TierStatus:
        status = await self.pool.status()
        if self._config is not None and self._config.telemetry.metrics:
            series = router_metrics()
            for provider in status.detail.get("providers", []):
                series.availability(provider["name"], provider["available"])
        return status

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

    async def check_health(self) -> None:
        return None
