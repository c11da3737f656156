"""Per-tier admission: a tier serves at most ``concurrency`` requests at once from this process.

A request that cannot get a slot within ``queue_wait_s`` is not queued without bound: it fails
with ``TierSaturated`` and the dispatcher escalates it to the next tier.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from router.errors import TierSaturated


class TierGate:
    def __init__(self, tier: int, concurrency: int, queue_wait_s: float) -> None:
        self.tier = tier
        self.concurrency = concurrency
        self.queue_wait_s = queue_wait_s
        self._slots = asyncio.Semaphore(concurrency)
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.queue_wait_s)
        except asyncio.TimeoutError:
            raise TierSaturated(
                f"tier {self.tier} is saturated: {self.concurrency} requests in flight and no slot freed "
                f"within {self.queue_wait_s:g}s"
            ) from None
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()
