"""The one place a request ends. Each request gets an ``Ending`` as it arrives; whichever way it finishes
(answered, refused, failed, cancelled; whole or streamed; over HTTP or a handle) exactly one
``RequestOutcome`` is built from it and handed to the recorder.

    ending = outcomes.begin(request_id, channel="http", operation="chat")
    async with ending:                                  # an exception leaving the block ends it as failed
        ending.workspace_id = workspace.id
        await ending.answered(completion)               # or: started = await ending.streaming(started)

A stream ends when its last delta has gone out, when it fails, or when the caller closes it early.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from types import TracebackType

from router.core.api import Escalation, RoutingDecision
from router.core.errors import RouterError
from router.core.generation import StreamDelta, Usage
from router.decision.dispatcher import Completion, StreamingCompletion
from router.outcomes.outcome import (
    Channel,
    Operation,
    RequestOutcome,
    error_status,
    tier_path,
)
from router.outcomes.recorder import OutcomeRecorder


class Outcomes:
    """Begins an ``Ending`` per request; every ending goes to the same recorder."""

    def __init__(self, recorder: OutcomeRecorder, clock: Callable[[], float] = time.monotonic) -> None:
        self.recorder = recorder
        self._clock = clock

    def begin(self, request_id: str, *, channel: Channel, operation: Operation = "chat") -> "Ending":
        return Ending(self.recorder, request_id, channel, operation, self._clock)


class Ending:
    def __init__(self, recorder: OutcomeRecorder, request_id: str, channel: Channel, operation: Operation,
                 clock: Callable[[], float]) -> None:
        self.request_id = request_id
        self.workspace_id: str | None = None
        self._recorder, self._channel, self._operation, self._clock = recorder, channel, operation, clock
        self._started = clock()
        self._handed_to_stream = False
        self.outcome: RequestOutcome | None = None  # set once, when it has ended

    async def __aenter__(self) -> "Ending":
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc is not None:
            await self.failed(exc)
        elif self.outcome is None and not self._handed_to_stream:
            await self.failed(RuntimeError("the request left the router without an outcome"))

    # ---- the ways a request ends -------------------------------------------------------------------

    async def answered(self, completion: Completion) -> None:
        await self._end(completion.decision, usage=completion.usage, cost=_cost(completion.decision))

    async def routed(self, decision: RoutingDecision) -> None:
        await self._end(decision)

    async def failed(self, error: BaseException, decision: RoutingDecision | None = None) -> None:
        """``decision``: where a stream that then failed had been sent (its tier and the chain before it)."""
        status, code, http_status = error_status(error)
        tried = error.details.get("tried", []) if isinstance(error, RouterError) else []
        escalations = [Escalation.model_validate(step) for step in tried]
        if decision is not None and not escalations:
            escalations = list(decision.escalations)
        message = error.message if isinstance(error, RouterError) else type(error).__name__
        await self._record(RequestOutcome(
            request_id=self.request_id, workspace_id=self.workspace_id, channel=self._channel,
            operation=self._operation, streamed=self._handed_to_stream, status=status, decision=decision,
            tier=None if decision is None else decision.tier,
            tier_path=tier_path(escalations, None if decision is None else decision.tier),
            provider=None if decision is None else decision.provider,
            model=None if decision is None else decision.model,
            latency_s=self._elapsed(), error_code=code, http_status=http_status, error_message=message,
            escalations=escalations,
        ))

    async def streaming(self, started: StreamingCompletion | Completion) -> StreamingCompletion | Completion:
        """The same stream, ending this request when it finishes, fails or is closed early."""
        self._handed_to_stream = True
        if isinstance(started, Completion):  # a Tier 0 command: its one chunk is all there is
            await self.answered(started)
            return started
        return replace(started, rest=self._watch(started))

    async def _watch(self, started: StreamingCompletion) -> AsyncIterator[StreamDelta]:
        last = started.first
        try:
            async for delta in started.rest:
                last = delta
                yield delta
        except BaseException as exc:
            await self.failed(exc, started.decision)
            raise
        cost = last.cost_usd if last.cost_usd is not None else _cost(started.decision)
        await self._end(started.decision, usage=last.usage or Usage(), cost=cost)

    # ---- building the outcome ----------------------------------------------------------------------

    async def _end(self, decision: RoutingDecision, *, usage: Usage | None = None, cost: Decimal | None = None) -> None:
        await self._record(RequestOutcome(
            request_id=self.request_id, workspace_id=self.workspace_id, channel=self._channel,
            operation=self._operation, streamed=self._handed_to_stream, status="answered", decision=decision,
            tier=decision.tier, tier_path=tier_path(decision.escalations, decision.tier),
            provider=decision.provider, model=decision.model, usage=usage or Usage(), cost_usd=cost,
            latency_s=self._elapsed(), escalations=list(decision.escalations),
        ))

    async def _record(self, outcome: RequestOutcome) -> None:
        if self.outcome is not None:
            return  # it has ended already: one outcome per request
        self.outcome = outcome
        await asyncio.shield(self._recorder.record(outcome))  # a cancelled caller's outcome is still written

    def _elapsed(self) -> float:
        return self._clock() - self._started


def _cost(decision: RoutingDecision) -> Decimal | None:
    return None if decision.cost_usd is None else Decimal(decision.cost_usd)

