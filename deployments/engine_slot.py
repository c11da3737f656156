"""One engine inside a deployment, and how far its start-up has got: loading, ready, or failed and why.

Loading weights can take minutes (vLLM) or fail (wrong path, offline, out of memory). Both happen in a
background task, never in the replica's constructor: a constructor that blocks for minutes or raises
would leave the deployment starting or failed, and a failed deployment takes the whole application
down with it. So the replica comes up at once, reports "loading" and then "ready" or the failure
through ``status()``, and the ingress routes around it meanwhile.
"""

import asyncio
import logging
import time

from deployments.health_cache import HealthCache
from models.engine import Engine, EngineHealth
from router.core.errors import RouterError, TierUnavailable

log = logging.getLogger("ray.serve")


class EngineSlot:
    def __init__(self, engine: Engine | None, problem: str = "", *, name: str = "engine") -> None:
        self.engine = engine
        self.name = name
        self.problem = problem
        self.state = "failed" if engine is None else "created"
        if engine is not None and type(engine).start is Engine.start:
            self.state = "ready"  # nothing to load (an HTTP or SDK client): usable at once, no start-up race
        self.health = HealthCache()
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0

    def ensure_started(self) -> None:
        """Start loading in the background, once; a no-op outside an event loop (it starts on the next call)."""
        if self.engine is None or self._task is not None or self.state == "ready":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.state, self._started_at = "loading", time.monotonic()
        self._task = loop.create_task(self._start(self.engine))

    async def _start(self, engine: Engine) -> None:
        try:
            await engine.start()
        except RouterError as exc:
            self.state, self.problem = "failed", exc.message
        except Exception as exc:  # noqa: BLE001 - a load must never take the replica down
            self.state, self.problem = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("%s: unexpected failure while loading", self.name)
        else:
            self.state, self.health = "ready", HealthCache()  # forget failures seen while it was loading
            log.info("%s: ready after %.1fs", self.name, time.monotonic() - self._started_at)
            return
        log.warning("%s unavailable: %s", self.name, self.problem)

    async def started(self) -> None:
        """Wait for the background start to finish, whatever its outcome."""
        self.ensure_started()
        if self._task is not None:
            await asyncio.shield(self._task)

    def ready(self) -> Engine:
        """The engine, or ``TierUnavailable`` saying why not yet or not at all."""
        self.ensure_started()
        if self.engine is not None and self.state == "ready":
            return self.engine
        raise TierUnavailable(f"{self.name} is unavailable: {self.reason()}", code=f"engine_{self.state}")

    def reason(self) -> str:
        if self.state in ("loading", "created"):
            waited = time.monotonic() - self._started_at if self._started_at else 0.0
            return f"still loading the model ({waited:.0f}s so far)"
        return self.problem

    async def check(self) -> EngineHealth:
        self.ensure_started()
        if self.engine is None or self.state != "ready":
            return EngineHealth(False, self.reason())
        return await self.health.get(self.engine)

    async def close(self) -> None:
        # A load still running in its thread cannot be interrupted; its result is dropped with the engine.
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.engine is not None:
            await self.engine.close()
