"""The routing_decisions writer: an outcome sink that never waits on the database.

``record`` only appends the row to a bounded in-memory queue; a background task writes the queue in
batches, every ``flush_interval_s`` or as soon as a batch is full. A write that fails keeps its rows for the
next attempt. When the queue is full (the database slow or down for long) a new row is dropped, counted in
``dropped`` (and the ``router_telemetry_dropped_total`` metric through ``on_dropped``) and logged, never
lost in silence. ``flush`` writes everything queued: the ingress calls it on ``reconfigure`` and on shutdown.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from router.core.telemetry_settings import TelemetryConfig
from router.outcomes.outcome import RequestOutcome
from router.storage.database import Clock, utc_now
from router.storage.telemetry import DecisionRecord, TelemetryStore
from router.telemetry.records import decision_record

log = logging.getLogger(__name__)

DROP_LOG_EVERY = 1000  # one log line for the first drop, then one per this many


class TelemetryWriter:
    def __init__(self, store: TelemetryStore, settings: TelemetryConfig, *,
                 on_dropped: Callable[[int], None] | None = None, clock: Clock = utc_now) -> None:
        self.store = store
        self.settings = settings
        self._on_dropped = on_dropped
        self._clock = clock
        self._queue: deque[DecisionRecord] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.written = 0
        self.dropped = 0
        self.failed_writes = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def record(self, outcome: RequestOutcome) -> None:
        self.offer(decision_record(outcome, self._clock()))

    def offer(self, record: DecisionRecord) -> None:
        if len(self._queue) >= self.settings.max_queue:
            self.dropped += 1
            if self._on_dropped is not None:
                self._on_dropped(1)
            if self.dropped == 1 or self.dropped % DROP_LOG_EVERY == 0:
                log.warning("telemetry queue full (%d rows): dropped the row of request %s; %d dropped so far",
                            self.settings.max_queue, record.request_id, self.dropped)
            return
        self._queue.append(record)
        self._ensure_running()
        if len(self._queue) >= self.settings.batch_size:
            self._wake.set()

    def _ensure_running(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="telemetry-writer")

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.flush_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Write everything queued now; returns the rows written. A failed write leaves its rows queued."""
        written = 0
        async with self._lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.settings.batch_size, len(self._queue)))]
                try:
                    await self.store.db.run(self.store.insert_many, batch)
                except Exception:  # noqa: BLE001 - kept for the next attempt; the requests are long answered
                    self.failed_writes += 1
                    self._queue.extendleft(reversed(batch))
                    log.exception("could not write %d telemetry rows; %d queued, retrying in %.1fs",
                                  len(batch), len(self._queue), self.settings.flush_interval_s)
                    break
                written += len(batch)
        self.written += written
        return written

    async def close(self) -> None:
        """Stop the background task and write what is left."""
        self._closed = True
        if self._task is not None:
            async with self._lock:  # never cancel a write half done: its rows would be neither queued nor sure
                self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        await self.flush()
        if self._queue:
            log.error("telemetry: %d rows could not be written before shutdown", len(self._queue))
