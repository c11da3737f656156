"""Every request ends in exactly one recorded outcome, whichever way it ends; the escalation log is written
from it."""

import asyncio
from decimal import Decimal

import pytest

from router.core.api import Escalation, RoutingDecision
from router.core.errors import (
    BudgetExceeded,
    InvalidRequest,
    RoutingFailure,
    UpstreamError,
)
from router.core.generation import StreamDelta, Usage
from router.decision.dispatcher import Completion, StreamingCompletion
from router.outcomes.ending import Outcomes
from router.outcomes.recorder import EscalationLogSink, OutcomeRecorder
from router.storage.escalations import EscalationLog

ESCALATED = [Escalation(from_tier=1, to_tier=3, reason="tier 1: upstream_timeout: slow")]


class Sink:
    def __init__(self) -> None:
        self.outcomes = []

    async def record(self, outcome) -> None:
        self.outcomes.append(outcome)


class BrokenSink:
    async def record(self, outcome) -> None:
        raise RuntimeError("disk full")


def decision(tier=3, **changes) -> RoutingDecision:
    return RoutingDecision(request_id="r1", tier=tier, tier_name="frontier", provider="cloud", model="big",
                           escalations=list(ESCALATED), **changes)


def completion(**changes) -> Completion:
    return Completion(decision(**changes), "answer", Usage(prompt_tokens=10, completion_tokens=3), "stop", "big")


@pytest.fixture
def sink():
    return Sink()


@pytest.fixture
def outcomes(sink):
    ticks = iter(range(100))
    return Outcomes(OutcomeRecorder([sink]), clock=lambda: float(next(ticks)))


async def test_an_answer_is_one_outcome_with_its_tier_path_usage_cost_and_latency(outcomes, sink):
    async with outcomes.begin("r1", channel="http") as ending:
        ending.workspace_id = "w1"
        await ending.answered(completion(cost_usd="0.0125"))
    [outcome] = sink.outcomes
    assert (outcome.status, outcome.http_status, outcome.tier, outcome.tier_path) == ("answered", 200, 3, [1, 3])
    assert (outcome.provider, outcome.model, outcome.workspace_id, outcome.channel) == ("cloud", "big", "w1", "http")
    assert outcome.usage.completion_tokens == 3 and outcome.cost_usd == Decimal("0.0125")
    assert outcome.latency_s == 1.0 and outcome.escalations == ESCALATED and not outcome.streamed


@pytest.mark.parametrize(("error", "status", "http_status", "code"), [
    (InvalidRequest("bad body"), "refused", 400, "invalid_request"),
    (BudgetExceeded("over budget"), "refused", 402, "budget_exceeded"),
    (UpstreamError("boom"), "failed", 502, "upstream_error"),
    (RuntimeError("a bug"), "failed", 500, "internal_error"),
    (asyncio.CancelledError(), "cancelled", 499, "cancelled"),
])
async def test_an_error_leaving_the_block_ends_the_request_with_its_status(outcomes, sink, error, status,
                                                                           http_status, code):
    with pytest.raises(type(error)):
        async with outcomes.begin("r1", channel="handle"):
            raise error
    [outcome] = sink.outcomes
    assert (outcome.status, outcome.http_status, outcome.error_code) == (status, http_status, code)
    assert outcome.tier is None and outcome.channel == "handle"


async def test_a_routing_failure_keeps_the_chain_it_tried(outcomes, sink):
    tried = [{"from_tier": 1, "to_tier": 2, "reason": "tier 1: down"}, {"from_tier": 2, "to_tier": 3, "reason": "x"},
             {"from_tier": 3, "to_tier": None, "reason": "tier 3: down"}]
    with pytest.raises(RoutingFailure):
        async with outcomes.begin("r1", channel="http"):
            raise RoutingFailure("no tier could answer", details={"tried": tried})
    [outcome] = sink.outcomes
    assert outcome.tier_path == [1, 2, 3] and [e.reason for e in outcome.escalations][-1] == "tier 3: down"


async def test_only_the_first_ending_counts(outcomes, sink):
    with pytest.raises(ValueError):
        async with outcomes.begin("r1", channel="http") as ending:
            await ending.answered(completion())
            raise ValueError("after the answer")
    assert [o.status for o in sink.outcomes] == ["answered"]


async def test_leaving_without_an_ending_is_recorded_as_a_failure(outcomes, sink):
    async with outcomes.begin("r1", channel="http"):
        pass
    assert [(o.status, o.error_code) for o in sink.outcomes] == [("failed", "internal_error")]


def streaming(deltas, error=None) -> StreamingCompletion:
    async def rest():
        for delta in deltas:
            yield delta
        if error is not None:
            raise error

    return StreamingCompletion(decision(), StreamDelta(text="first"), rest())


async def test_a_stream_ends_when_its_last_delta_has_gone_out(outcomes, sink):
    async with outcomes.begin("r1", channel="http") as ending:
        started = await ending.streaming(streaming([
            StreamDelta(text="more"),
            StreamDelta(usage=Usage(prompt_tokens=5, completion_tokens=2), finish_reason="stop",
                        cost_usd=Decimal("0.5"))]))
    assert sink.outcomes == []  # not over yet: nothing has been sent
    assert [d.text async for d in started.rest] == ["more", ""]
    [outcome] = sink.outcomes
    assert (outcome.status, outcome.streamed, outcome.cost_usd, outcome.usage.completion_tokens) == \
        ("answered", True, Decimal("0.5"), 2)


async def test_a_stream_cut_short_is_failed_at_the_tier_that_was_answering(outcomes, sink):
    async with outcomes.begin("r1", channel="http") as ending:
        started = await ending.streaming(streaming([StreamDelta(text="half")], error=UpstreamError("reset")))
    with pytest.raises(UpstreamError):
        async for _ in started.rest:
            pass
    [outcome] = sink.outcomes
    assert (outcome.status, outcome.error_code, outcome.tier, outcome.streamed) == ("failed", "upstream_error", 3, True)
    assert outcome.escalations == ESCALATED


async def test_a_stream_the_caller_closes_early_is_cancelled(outcomes, sink):
    async with outcomes.begin("r1", channel="http") as ending:
        started = await ending.streaming(streaming([StreamDelta(text="a"), StreamDelta(text="b")]))
    rest = started.rest
    await anext(rest)
    await rest.aclose()
    assert [(o.status, o.error_code) for o in sink.outcomes] == [("cancelled", "cancelled")]


async def test_a_tier_0_answer_in_stream_mode_ends_at_once(outcomes, sink):
    async with outcomes.begin("r1", channel="http") as ending:
        await ending.streaming(completion(tier=0))
    assert [(o.status, o.tier, o.streamed) for o in sink.outcomes] == [("answered", 0, True)]


async def test_a_broken_sink_neither_fails_the_request_nor_starves_the_next(sink):
    outcomes = Outcomes(OutcomeRecorder([BrokenSink(), sink]))
    async with outcomes.begin("r1", channel="http") as ending:
        await ending.answered(completion())
    assert len(sink.outcomes) == 1


async def test_the_escalation_log_is_written_from_outcomes(db):
    log = EscalationLog(db)
    outcomes = Outcomes(OutcomeRecorder([EscalationLogSink(log)]))
    async with outcomes.begin("answered", channel="http") as ending:
        ending.workspace_id = "w1"
        await ending.answered(completion())
    with pytest.raises(UpstreamError):
        async with outcomes.begin("failed", channel="http") as ending:
            ending.workspace_id = "w1"
            raise UpstreamError("boom")
    async with outcomes.begin("routed", channel="http", operation="route") as ending:
        ending.workspace_id = "w1"
        await ending.routed(decision())
    with pytest.raises(InvalidRequest):
        async with outcomes.begin("anonymous", channel="http"):
            raise InvalidRequest("not JSON")  # before any workspace is known: nothing to file it under
    rows = {r.request_id: r.reason for r in log.query(workspace_id="w1")}
    assert rows == {"answered": "tier 1: upstream_timeout: slow", "failed": "failed: upstream_error: boom"}
