"""The dispatcher's observable contract, field by field: the whole routing decision, the exact reasons and
escalation kinds, the stream's first delta and what follows it, closing a stream, the fallbacks and the
per-tier timings. Written against the survivors of docs/mutation.md; each test says what it pins."""

import asyncio
import logging

import pytest

from router.core.api import Escalation
from router.core.config import parse_config
from router.core.errors import BudgetExceeded, RoutingFailure, UpstreamError
from router.core.generation import (
    Generation,
    GenerationRequest,
    Message,
    StreamDelta,
    Usage,
)
from router.core.tiers import TierEndpoint
from router.decision.commands import CommandExecutor
from router.decision.dispatcher import Dispatcher, StreamingCompletion
from tests.configs import router_config
from tests.unit.test_cascade_chain import COMPLEX as CASCADE_COMPLEX
from tests.unit.test_cascade_chain import SamplingTier
from tests.unit.test_cascade_chain import build as build_cascade
from tests.unit.test_cascade_chain import chat as choice_question
from tests.unit.test_dispatcher import (
    COMPLEX,
    HARD,
    MICRO,
    SIMPLE,
    SINGLE_ANSWER,
    UNSURE,
    FixedClassifier,
    ScriptedTier,
    assessment,
    build,
    chat,
    tiers,
)
from tests.unit.test_dispatcher_workspace import daily_cap, over_cap, workspace

TIER_1_REASON = "tier 1: recommended with confidence 0.90 >= 0.75 and complexity 0.10 <= 0.35"
PINNED_TO_3 = ["model tier-3 pins the tier", f"{TIER_1_REASON}, bounded to tier 3"]


def split_timings(decision) -> tuple[dict, set[int]]:
    """The decision's fields without its timings (wall-clock), and the tiers it has a timing for."""
    fields = decision.model_dump()
    timings = fields.pop("tier_latency_ms")
    assert all(ms >= 0.0 for ms in timings.values())
    return fields, set(timings)


def expected_decision(tier: int, reasons: list[str], *, classification=SIMPLE, routing_score: float | None = 0.1,
                      escalations: tuple[Escalation, ...] = (), **fields) -> dict:
    names = {0: "command", 1: "micro", 2: "light", 3: "frontier"}
    decision = {
        "request_id": "r1", "tier": tier, "tier_name": names[tier], "routing_score": routing_score,
        "classifier": "learned" if classification is not None else None,
        "classification": classification.model_dump() if classification is not None else None,
        "provider": f"p{tier}" if tier else None, "model": f"m{tier}" if tier else None, "cost_usd": None,
        "command": None, "reasons": reasons, "escalations": [e.model_dump() for e in escalations],
        "escalation_score": None, "cascade": None, "agent_id": None, "requested_tier": None,
        "self_assessed_quality": None,
    }
    decision.update(fields)
    return decision


def dispatcher(*scripted: ScriptedTier, classification=SIMPLE, local_admission: bool = True,
               **config_changes) -> Dispatcher:
    document = router_config()
    for section, values in config_changes.items():
        document.setdefault(section, {}).update(values)
    config = parse_config(document)

    async def status():
        return {}

    return Dispatcher(config, CommandExecutor(config, status=status), {t.number: t.endpoint for t in scripted},
                      classifier=FixedClassifier(classification), local_admission=local_admission)


def one_slot(tier: str = "micro") -> dict:
    return {tier: {**router_config()["tiers"][tier], "concurrency": 1, "queue_wait_s": 0.01}}


class HandleStream:
    """A tier's stream as a deployment handle gives it: an async iterator object (not a generator) holding a
    connection that only ``aclose`` gives back. It can fail or hang before its first delta."""

    def __init__(self, *deltas: StreamDelta, fail: Exception | None = None, hang: bool = False) -> None:
        self.deltas, self.fail, self.hang = list(deltas), fail, hang
        self.closed = 0

    def __aiter__(self) -> "HandleStream":
        return self

    async def __anext__(self) -> StreamDelta:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail is not None:
            raise self.fail
        if not self.deltas:
            raise StopAsyncIteration
        return self.deltas.pop(0)

    async def aclose(self) -> None:
        self.closed += 1


def streaming_tier(number: int, *streams: HandleStream, timeout_s: float = 1.0) -> ScriptedTier:
    """A ScriptedTier whose stream calls hand out ``streams`` in turn."""
    tier = ScriptedTier(number, timeout_s=timeout_s)
    handed = list(streams)
    tier.endpoint = TierEndpoint(number, tier.generate, lambda request: handed.pop(0), tier.status, timeout_s)
    return tier


# ---- the decision, field by field ----------------------------------------------------------------------

async def test_a_tier_1_answer_reports_every_field_and_asks_the_tier_with_the_callers_limits():
    """Kills _decision 4 14 27 39 44, _completion 8 9 12 13 19 20 21, _request_for 1 23 29 30."""
    fine = SIMPLE.model_copy(update={"complexity_score": 0.11111})  # routing score 0.104444: reported to 4 places
    one, two, three = tiers((), (), ())
    completion = await dispatcher(one, two, three, classification=fine).complete(
        chat("hello", max_tokens=50, temperature=0.3, stop=["END"]), "r1")
    fields, timed = split_timings(completion.decision)
    assert fields == expected_decision(
        1, ["tier 1: recommended with confidence 0.90 >= 0.75 and complexity 0.11 <= 0.35", "answered at tier 1 (micro)"],
        classification=fine, routing_score=0.1044)
    assert timed == {1}
    assert (completion.text, completion.usage, completion.finish_reason, completion.model) == (
        "tier 1 says hi", Usage(prompt_tokens=3, completion_tokens=4), "stop", "m1")
    assert one.requests == [GenerationRequest(request_id="r1", messages=[Message(role="user", content="hello")],
                                              max_tokens=50, temperature=0.3, stop=["END"])]


async def test_a_command_decision_carries_the_command_reason_alone():
    """Kills _decision 3: no "answered at tier 0" is added to a Tier 0 answer or route."""
    d = dispatcher(*tiers((), (), ()))
    answered = (await d.complete(chat("/cert az-104"), "r1")).decision
    routed = await d.route(chat("/cert az-104"), "r1")
    for decision, reasons in ((answered, ["matched command /cert: answered without a model"]),
                              (routed, ["matched command /cert"])):
        fields, timed = split_timings(decision)
        assert fields == expected_decision(0, reasons, classification=None, routing_score=None, command="cert")
        assert timed == set()


async def test_route_asks_the_micro_model_unless_told_not_to_use_models():
    """Kills route 1 6 11: route's use_models defaults to True and is passed on as given."""
    one = ScriptedTier(1, SIMPLE.model_dump_json())
    d = build(one, ScriptedTier(2), ScriptedTier(3), classification=SIMPLE, classifier=MICRO)
    by_default = await d.route(chat(), "r1")
    assert (by_default.classifier, by_default.tier, one.calls) == ("micro", 1, 1)
    without_models = await d.route(chat(), "r1", use_models=False)
    assert (without_models.classifier, without_models.tier, one.calls) == ("learned", 1, 1)  # no second call


async def test_route_and_stream_apply_the_workspace_bounds():
    """Kills route 7 12 and stream 5 9: the workspace reaches the planner on both paths."""
    one, two, three = tiers((), (), ())
    d = dispatcher(one, two, three)
    bounded = ["workspace team allows tiers 2..3", f"{TIER_1_REASON}, bounded to tier 2"]
    routed = await d.route(chat(), "r1", workspace=workspace(min_tier=2))
    fields, timed = split_timings(routed)
    assert fields == expected_decision(2, [*bounded, "answered at tier 2 (light)"])
    assert timed == set()  # a route calls no tier
    started = await d.stream(chat(), "r1", workspace=workspace(min_tier=2))
    assert started.decision.tier == 2 and started.decision.reasons[:2] == bounded
    assert one.calls == 0


# ---- streaming -------------------------------------------------------------------------------------------

async def test_a_tier_2_stream_is_its_whole_graded_answer_in_one_delta():
    """Kills _streamed_answer 1 3 and _as_stream 3 4 5 6 8 9 10 11."""
    one, two, three = tiers((), (), ())
    started = await dispatcher(one, two, three, classification=UNSURE, cascade=SINGLE_ANSWER).stream(chat(), "r1")
    assert started.first == StreamDelta(text="tier 2 says hi", usage=Usage(prompt_tokens=3, completion_tokens=4),
                                         finish_reason="stop", model="m2", provider="p2")
    assert [d async for d in started.rest] == []
    fields, timed = split_timings(started.decision)
    assert fields == expected_decision(
        2, ["tier 2: routing score 0.22 < 0.6 but tier 1 conditions not met", "tier 2 self-assessed quality 0.90",
            "answered at tier 2 (light)"], classification=UNSURE, routing_score=0.22, self_assessed_quality=0.9)
    assert timed == {2} and (one.calls, two.calls, three.calls) == (0, 1, 0)


async def test_an_empty_stream_starts_with_a_stop_delta_and_nothing_after():
    """Kills _first_delta 24 25 26 27 28 29."""
    empty = HandleStream()
    started = await dispatcher(streaming_tier(1, empty), ScriptedTier(2)).stream(chat(), "r1")
    assert isinstance(started, StreamingCompletion) and started.decision.tier == 1
    assert started.first == StreamDelta(finish_reason="stop", usage=Usage())
    assert [d async for d in started.rest] == []


async def test_an_abandoned_stream_is_closed_and_its_tier_slot_given_back():
    """Kills _first_delta 31 and _close 1 2 7 8 9: closing the rest closes the tier's stream."""
    pieces = [StreamDelta(text="a", model="m1", provider="p1"), StreamDelta(text="b"),
              StreamDelta(text="c", usage=Usage(completion_tokens=3), finish_reason="stop")]
    first_stream, second_stream = HandleStream(*pieces), HandleStream(*pieces)
    d = dispatcher(streaming_tier(1, first_stream, second_stream), ScriptedTier(2), tiers=one_slot())
    started = await d.stream(chat(), "r1")
    assert started.first == pieces[0] and (started.decision.provider, started.decision.model) == ("p1", "m1")
    assert await anext(started.rest) == pieces[1]
    await started.rest.aclose()  # the caller went away after two deltas
    assert first_stream.closed == 1
    again = await d.stream(chat(), "r2")  # tier 1 has one slot: it was given back
    assert again.decision.tier == 1 and again.decision.escalations == []
    assert [x async for x in again.rest] == pieces[1:] and second_stream.closed == 1


async def test_a_stream_failing_before_its_first_delta_is_closed_and_escalated():
    """Kills _first_delta 20 and _close 1 2 7 8 9: the failed stream's aclose is called."""
    broken = HandleStream(fail=UpstreamError("stream broke"))
    started = await dispatcher(streaming_tier(1, broken), ScriptedTier(2)).stream(chat(), "r1")
    assert broken.closed == 1
    assert started.decision.tier == 2 and started.first.text == "tier 2 says hi"
    assert started.decision.escalations == [
        Escalation(from_tier=1, to_tier=2, reason="tier 1: upstream_error: stream broke", kind="error")]


async def test_a_stream_silent_past_the_tier_timeout_is_closed_and_escalated_with_the_timeout():
    """Kills _first_delta 16 20 30 (16 would wait for ever: bounded here so it fails instead)."""
    silent = HandleStream(hang=True)
    d = dispatcher(streaming_tier(1, silent, timeout_s=0.05), ScriptedTier(2))
    started = await asyncio.wait_for(d.stream(chat(), "r1"), timeout=5.0)
    assert silent.closed == 1
    assert started.decision.tier == 2
    assert started.decision.escalations == [
        Escalation(from_tier=1, to_tier=2, reason="tier 1: upstream_timeout: tier 1 sent nothing within 0.05s",
                   kind="error")]
    assert set(started.decision.tier_latency_ms) == {1, 2}


class SkippingFrontier(ScriptedTier):
    """Tier 3 answering after the pool passed over two providers."""

    SKIPPED = ["a: down", "b: over its budget"]

    async def generate(self, request: GenerationRequest) -> Generation:
        answer = await super().generate(request)
        return answer.model_copy(update={"skipped": self.SKIPPED})

    async def stream(self, request: GenerationRequest):
        yield StreamDelta(text="tier ", model="m3", provider="p3", skipped=self.SKIPPED)
        yield StreamDelta(text="3 says hi", usage=Usage(completion_tokens=4), finish_reason="stop")


async def test_the_providers_passed_over_are_named_in_the_reasons_whole_or_streamed():
    """Kills _completion 1 2 3 4 and _streamed_answer 21 22 23 24."""
    reasons = [*PINNED_TO_3, "tier 3 passed over: a: down; b: over its budget", "answered at tier 3 (frontier)"]
    for operation in ("complete", "stream"):
        three = SkippingFrontier(3)
        result = await getattr(dispatcher(ScriptedTier(1), ScriptedTier(2), three), operation)(
            chat(model="tier-3"), "r1")
        fields, timed = split_timings(result.decision)
        assert fields == expected_decision(3, reasons), operation
        assert timed == {3}


async def test_a_streamed_frontier_answer_carries_the_agents_token_cap():
    """Kills _first_delta 5 (the stream is asked as tier 3) and _request_for 5 (a request naming no agent
    gets no agent's cap, whatever that agent is called)."""
    agents = {"writer": {"max_tokens": {3: 300}}, "XXXX": {"max_tokens": {1: 7, 3: 7}}}
    one, two, three = tiers((), (), ())
    d = dispatcher(one, two, three, agents=agents)
    started = await d.stream(chat(model="tier-3", router={"agent_id": "writer"}), "r1")
    assert [piece.text async for piece in started.rest] == ["3 says hi"]
    assert three.requests[-1].max_tokens == 300 and started.decision.agent_id == "writer"
    anonymous = await d.complete(chat(), "r1")
    assert anonymous.decision.tier == 1 and anonymous.decision.agent_id is None
    assert one.requests[-1].max_tokens is None


# ---- escalations: exact reasons and kinds -------------------------------------------------------------------

async def test_an_unexpected_tier_bug_is_escalated_naming_the_exception_type_and_logged_with_its_traceback(caplog):
    """Kills _escalate_or_raise 24 25, and the logging-only 16 17 18 19 20 22 23."""
    bug = RuntimeError("boom")
    one, two, three = tiers((bug,), (), ())
    with caplog.at_level(logging.ERROR, logger="router.decision.dispatcher"):
        completion = await dispatcher(one, two, three).complete(chat(), "r1")
    [record] = [r for r in caplog.records if r.name == "router.decision.dispatcher"]
    assert (record.levelno, record.getMessage(), record.exc_info[1]) == (logging.ERROR, "tier 1 failed unexpectedly", bug)
    assert completion.decision.tier == 2
    assert completion.decision.escalations == [
        Escalation(from_tier=1, to_tier=2, reason="tier 1: internal error: RuntimeError", kind="error")]
    assert set(completion.decision.tier_latency_ms) == {1, 2}


async def test_a_saturated_tier_is_named_in_the_escalation():
    """Kills __init__ 10: the gate knows its tier number."""
    one = ScriptedTier(1, "hang")
    d = dispatcher(one, ScriptedTier(2), tiers=one_slot())
    blocker = asyncio.create_task(d.complete(chat(), "r0"))
    for _ in range(1000):  # bounded: yield until the first request holds the only slot
        if one.calls:
            break
        await asyncio.sleep(0)
    completion = await d.complete(chat(), "r1")
    one.release.set()
    await blocker
    assert completion.decision.escalations == [Escalation(
        from_tier=1, to_tier=2, kind="error",
        reason="tier 1: tier_saturated: tier 1 is saturated: 1 requests in flight and no slot freed within 0.01s")]


async def test_without_local_admission_a_tier_takes_more_requests_than_its_concurrency():
    """Kills __init__ 17: under Serve the replicas bound concurrency, not this process."""
    release, seen = asyncio.Event(), []

    async def generate(request: GenerationRequest) -> Generation:
        seen.append(request.request_id)
        if len(seen) == 1:
            await release.wait()  # held until a second request reaches the tier alongside it
        else:
            release.set()
        return Generation(text=f"answer to {request.request_id}", model="m1", provider="p1")

    one = ScriptedTier(1)
    one.endpoint = TierEndpoint(1, generate, one.stream, one.status, 1.0)
    d = dispatcher(one, ScriptedTier(2), tiers=one_slot(), local_admission=False)
    first = asyncio.create_task(d.complete(chat(), "r0"))
    for _ in range(1000):
        if seen:
            break
        await asyncio.sleep(0)
    second = await d.complete(chat(), "r1")
    release.set()  # lets the first go in any case
    assert (second.decision.tier, second.text, second.decision.escalations) == (1, "answer to r1", [])
    assert (await first).decision.tier == 1 and seen == ["r0", "r1"]


@pytest.mark.parametrize(("text", "extra", "reason"), [
    ("x " * 8182, {}, "the context (~4097 tokens) exceeds 4096 tokens"),
    ("Document 1: a\nDocument 2: b\nCompare these two documents.", {}, "the request is a multi-document synthesis"),
    ("hello", {"router": {"precision": "high"}}, "the caller asked for high precision"),
], ids=["context", "multi-document", "precision"])
async def test_a_skipped_tier_2_is_one_precheck_escalation_to_tier_3(text, extra, reason):
    """Kills _answer 14 19 20 and _light_precheck 6 11."""
    one, two, three = tiers((), (), ())
    completion = await dispatcher(one, two, three, classification=COMPLEX, limits={"max_input_chars": 100_000}).complete(
        chat(text, **extra), "r1")
    assert completion.decision.tier == 3 and two.calls == 0
    assert completion.decision.escalations == [
        Escalation(from_tier=2, to_tier=3, reason=f"tier 2 skipped: {reason}", kind="precheck")]
    assert set(completion.decision.tier_latency_ms) == {2, 3}


async def test_a_prompt_of_exactly_the_light_context_limit_stays_at_tier_2():
    """Kills _light_precheck 4: 4096 tokens (16360 chars / 4 + 6 of message overhead) is within the limit."""
    one, two, three = tiers((), (), ())
    completion = await dispatcher(one, two, three, classification=COMPLEX, cascade=SINGLE_ANSWER,
                                  limits={"max_input_chars": 100_000}).complete(chat("x " * 8180), "r1")
    assert completion.decision.tier == 2 and completion.decision.escalations == []
    assert (two.calls, three.calls) == (1, 0)


@pytest.mark.parametrize(("reply", "reason"), [
    ("meh" + assessment(0.4), "self-assessed quality 0.40 < 0.7"),
    ("meh", "no usable self-assessment"),
    ("meh" + assessment(0.95, escalate=True), "the model asked to escalate"),
], ids=["low-quality", "no-assessment", "asked"])
async def test_tier_2_grading_itself_down_is_one_self_assessment_escalation(reply, reason):
    """Kills _self_judged 7 13 and _light_verdict 3 5."""
    one, two, three = tiers((), (reply,), ())
    completion = await dispatcher(one, two, three, classification=COMPLEX, cascade=SINGLE_ANSWER).complete(
        chat(), "r1")
    assert (completion.decision.tier, completion.text, three.calls) == (3, "tier 3 says hi", 1)
    assert completion.decision.escalations == [
        Escalation(from_tier=2, to_tier=3, reason=f"tier 2: {reason}", kind="self_assessment")]


async def test_a_failed_second_opinion_leaves_tier_2s_own_grade_to_decide():
    """Kills _judged 4 5: without a verdict, Tier 2's low self-assessment still escalates."""
    two = SamplingTier(2, "B" + assessment(0.4), UpstreamError("sampler down"))
    completion = await build_cascade(two, SamplingTier(3, "B")).complete(choice_question(), "r1")
    decision = completion.decision
    assert (decision.tier, completion.text, decision.cascade, decision.self_assessed_quality) == (3, "B", None, 0.4)
    assert "tier 2: second opinion (resample) failed: sampler down; decided on the single answer" in decision.reasons
    assert decision.escalations == [Escalation(from_tier=2, to_tier=3, reason="tier 2: self-assessed quality 0.40 < 0.7",
                                               kind="self_assessment")]


async def test_a_disputed_tier_2_answer_is_kept_when_tier_3_then_fails():
    """Kills _judged 27 28 29 and _fallback 3."""
    two = SamplingTier(2, "B" + assessment(0.9), "C")
    three = ScriptedTier(3, UpstreamError("frontier down"))
    completion = await build_cascade(two, three).complete(choice_question(), "r1")
    decision = completion.decision
    assert (decision.tier, completion.text, decision.provider, decision.model) == (2, "B", "p2", "m2")
    assert decision.reasons[-2:] == ["tier 3 could not answer: kept tier 2's answer despite its self-assessment",
                                     "answered at tier 2 (light)"]
    assert [(e.from_tier, e.to_tier, e.kind) for e in decision.escalations] == [(2, 3, "disagreement"), (3, None, "error")]
    assert decision.escalations[1].reason == "tier 3: upstream_error: frontier down"
    assert set(decision.tier_latency_ms) == {2, 3}


async def test_the_routing_score_moves_the_escalation_score():
    """Kills _answer 42: the second-opinion check is given the request's routing score."""
    scores = []
    for risk in (0.1, 0.3, 0.5):  # routing scores 0.30, 0.36, 0.42: every one starts at Tier 2
        classification = CASCADE_COMPLEX.model_copy(update={"hallucination_risk": risk})
        two = SamplingTier(2, "B" + assessment(0.9), "B")
        decision = (await build_cascade(two, SamplingTier(3, "B"), classification=classification).complete(
            choice_question(), "r1")).decision
        assert decision.tier == 2
        scores.append((decision.routing_score, decision.escalation_score))
    assert [routing for routing, _ in scores] == [0.3, 0.36, 0.42]
    assert scores[0][1] < scores[1][1] < scores[2][1]


# ---- fallbacks and failures --------------------------------------------------------------------------------

async def test_a_money_refusal_with_no_tier_2_deployed_is_the_402():
    """Kills _fallback 16: with no Tier 2 endpoint nothing falls back; the budget refusal stands."""
    one, three = ScriptedTier(1), ScriptedTier(3, over_cap())
    with pytest.raises(BudgetExceeded) as caught:
        await dispatcher(one, three, classification=HARD).complete(chat(), "r1")
    assert caught.value.status_code == 402 and one.calls == 0


async def test_a_refusal_falls_back_to_tier_2_when_tier_2_is_the_lowest_allowed():
    """Kills _fallback 20: min_tier 2 still allows the Tier 2 fallback."""
    one, two, three = tiers((), (), (daily_cap(),))
    completion = await dispatcher(one, two, three, classification=HARD).complete(chat(router={"min_tier": 2}), "r1")
    fields, timed = split_timings(completion.decision)
    assert fields == expected_decision(
        2, ["caller asked for tier >= 2", "tier 3: routing score 0.89 >= 0.6",
            "tier 3 refused (daily_cap_reached): fell back to tier 2", "answered at tier 2 (light)"],
        classification=HARD, routing_score=0.89, requested_tier=2,
        escalations=(Escalation(from_tier=3, to_tier=None, kind="refused",
                                reason="tier 3: daily_cap_reached: daily frontier cap of 100 reached"),
                     Escalation(from_tier=3, to_tier=2, kind="fallback",
                                reason="fallback: daily frontier cap of 100 reached")))
    assert timed == {2, 3} and completion.text == "tier 2 says hi" and one.calls == 0


async def test_a_tier_2_that_already_failed_is_not_asked_again_as_the_fallback():
    """Kills _answer 21: Tier 2 tried and failed, Tier 3 refused: a routing failure, not a second Tier 2 call."""
    one, two, three = (ScriptedTier(1), ScriptedTier(2, UpstreamError("light down"), "fresh" + assessment(0.9)),
                       ScriptedTier(3, daily_cap()))
    with pytest.raises(RoutingFailure) as caught:
        await dispatcher(one, two, three, classification=UNSURE, cascade=SINGLE_ANSWER).complete(chat(), "r1")
    assert two.calls == 1
    assert caught.value.details == {"tried": [
        {"from_tier": 2, "to_tier": 3, "reason": "tier 2: upstream_error: light down", "kind": "error"},
        {"from_tier": 3, "to_tier": None, "reason": "tier 3: daily_cap_reached: daily frontier cap of 100 reached",
         "kind": "refused"}]}


async def test_max_tier_2_never_reaches_tier_3_and_the_failure_lists_every_reason():
    """Kills _tiers_from 11 and _failure 14."""
    one, two, three = tiers((UpstreamError("boom 1"),), (UpstreamError("boom 2"),), ())
    with pytest.raises(RoutingFailure) as caught:
        await dispatcher(one, two, three).complete(chat(router={"max_tier": 2}), "r1")
    assert three.calls == 0
    assert caught.value.message.startswith(
        "no tier could answer the request. Tried tier 1 (micro), tier 2 (light): "
        "tier 1: upstream_error: boom 1; tier 2: upstream_error: boom 2. Configure a reachable endpoint")
    assert caught.value.details == {"tried": [
        {"from_tier": 1, "to_tier": 2, "reason": "tier 1: upstream_error: boom 1", "kind": "error"},
        {"from_tier": 2, "to_tier": None, "reason": "tier 2: upstream_error: boom 2", "kind": "error"}]}


async def test_with_no_tier_deployed_the_failure_says_so_and_tried_is_empty():
    """Kills _failure 4 5 6 7 8 9 10 11."""
    d = dispatcher()
    for operation in ("complete", "route"):
        with pytest.raises(RoutingFailure) as caught:
            await getattr(d, operation)(chat(), "r1")
        assert (caught.value.message, caught.value.details) == (
            "no model tier is configured for this request", {"tried": []}), operation


async def test_a_tier_that_is_down_for_route_is_answered_by_the_next_with_its_status():
    """The route path: the status's provider and model, the unavailable escalation's kind."""
    one, two, three = tiers((UpstreamError("micro gone"),), (), ())  # its status: unavailable, "micro gone"
    routed = await dispatcher(one, two, three).route(chat(), "r1")
    fields, _ = split_timings(routed)
    assert fields == expected_decision(2, [TIER_1_REASON, "answered at tier 2 (light)"], escalations=(
        Escalation(from_tier=1, to_tier=2, reason="tier 1: unavailable: micro gone", kind="unavailable"),))


class StepClock:
    """A clock that moves on by ``step`` seconds each time it is read: every timed span is one step."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def timed_dispatcher(*scripted: ScriptedTier, clock: StepClock, classification=SIMPLE, **config_changes) -> Dispatcher:
    made = dispatcher(*scripted, classification=classification, **config_changes)
    return Dispatcher(made.config, made.commands, made.tiers, classifier=FixedClassifier(classification),
                      clock=clock)


async def test_the_time_at_each_tier_is_reported_in_milliseconds_to_three_places():
    """Each tier's span is one step of the clock: 1.23456 ms, reported as 1.235."""
    one, two, three = tiers((), (), ())
    completion = await timed_dispatcher(one, two, three, clock=StepClock(0.00123456)).complete(chat(), "r1")
    assert completion.decision.tier == 1
    assert completion.decision.tier_latency_ms == {1: 1.235}


async def test_a_tier_tried_twice_reports_the_sum_of_its_two_spans():
    """Tier 2 is passed over (prompt too long), Tier 3 refuses for its daily cap, Tier 2 then answers after
    all: Tier 2's time is both spans together, Tier 3's its one span."""
    one, two, three = tiers((), (), (daily_cap(),))
    d = timed_dispatcher(one, two, three, clock=StepClock(0.002), classification=COMPLEX,
                         limits={"max_input_chars": 100_000})
    completion = await d.complete(chat("x " * 8182), "r1")
    assert (completion.decision.tier, two.calls) == (2, 1)
    assert [e.kind for e in completion.decision.escalations] == ["precheck", "refused", "fallback"]
    assert completion.decision.tier_latency_ms == {2: 4.0, 3: 2.0}
