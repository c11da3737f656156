"""Engine health, asked at most once per TTL so status calls never hammer an upstream."""

import asyncio
import time

from models.engine import Engine, EngineHealth


class HealthCache:
    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._value: EngineHealth | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, engine: Engine) -> EngineHealth:
        if self._value is not None and time.monotonic() - self._checked_at < self.ttl_s:
            return self._value
        async with self._lock:
            if self._value is None or time.monotonic() - self._checked_at >= self.ttl_s:
                self._value = await engine.health()
                self._checked_at = time.monotonic()
        return self._value

    def mark_down(self, reason: str) -> None:
        """A failed call is fresher news than the last health check."""
        self._value = EngineHealth(False, reason)
        self._checked_at = time.monotonic()
