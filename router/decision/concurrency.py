"""Per-tier admission: a tier serves at most ``concurrency`` requests at once from this process.

A request that cannot get a slot within ``queue_wait_s`` is not queued without bound: it fails
with ``TierSaturated`` and the dispatcher escalates it to the next tier.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from router.core.errors import TierSaturated


class TierGate:
    def __init__(self, tier: int, concurrency: int, queue_wait_s: float) -> None:
        self.tier = tier
        self.concurrency = concurrency
        self.queue_wait_s = queue_wait_s
        self._slots = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked():  # only a full gate needs the timed wait (a task and a timer per call)
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=self.queue_wait_s)
            except asyncio.TimeoutError:
                raise TierSaturated(
                    f"tier {self.tier} is saturated: {self.concurrency} requests in flight and no slot freed "
                    f"within {self.queue_wait_s:g}s"
                ) from None
        else:
            await self._slots.acquire()  # a free slot: returns at once, without suspending
        try:
            yield
        finally:
            self._slots.release()
