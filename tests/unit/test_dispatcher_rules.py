"""What the dispatcher hands back, field by field: routes over unavailable tiers, Tier 0 answers, the
lower-tier fallback when Tier 3 refuses for money, and what a stream starts with."""

import pytest

from router.core.errors import RoutingFailure, TierUnavailable, UpstreamError
from router.core.generation import Usage
from tests.unit.test_dispatcher import (
    HARD,
    SIMPLE,
    SINGLE_ANSWER,
    ScriptedTier,
    build,
    chat,
    tiers,
)


def lower_tier_refusal() -> Exception:
    return TierUnavailable("daily frontier cap of 100 reached", code="daily_cap_reached",
                           details={"fallback": "lower_tier"})


async def test_route_walks_past_unavailable_tiers_naming_each_next_tier_and_the_model():
    one, two, three = (ScriptedTier(1, TierUnavailable("down")), ScriptedTier(2, TierUnavailable("down")),
                       ScriptedTier(3))
    decision = await build(one, two, three).route(chat(), "r1")
    assert (decision.tier, decision.provider, decision.model) == (3, "p3", "m3")
    assert [(e.from_tier, e.to_tier) for e in decision.escalations] == [(1, 2), (2, 3)]
    assert (one.calls, two.calls, three.calls) == (0, 0, 0)  # a route generates nothing


async def test_route_with_every_tier_unavailable_is_a_routing_failure_with_the_chain():
    one, two, three = (ScriptedTier(n, TierUnavailable("down")) for n in (1, 2, 3))
    with pytest.raises(RoutingFailure) as caught:
        await build(one, two, three).route(chat(), "r1")
    assert [(t["from_tier"], t["to_tier"]) for t in caught.value.details["tried"]] == [(1, 2), (2, 3), (3, None)]


async def test_a_tier_0_command_is_a_complete_answer_with_no_model_and_no_usage():
    one, two, three = tiers((), (), ())
    for operation in ("complete", "stream"):
        result = await getattr(build(one, two, three), operation)(chat("/help"), "r1")
        assert result.decision.tier == 0 and result.decision.command == "help"
        assert (result.usage, result.finish_reason, result.model) == (Usage(), "stop", "tier-0")
        assert result.command is not None and result.text == result.command.text
    assert (one.calls, two.calls, three.calls) == (0, 0, 0)


async def test_a_money_refusal_at_tier_3_falls_back_to_a_fresh_tier_2_answer_asked_as_tier_2():
    one, two, three = tiers((), (), (lower_tier_refusal(),))
    completion = await build(one, two, three, classification=HARD).complete(chat(), "r")
    assert completion.decision.tier == 2 and completion.text == "tier 2 says hi"
    refusal, fallback = completion.decision.escalations[-2:]
    assert (refusal.from_tier, refusal.to_tier) == (3, None) and "daily_cap_reached" in refusal.reason
    assert (fallback.from_tier, fallback.to_tier) == (3, 2) and fallback.reason.startswith("fallback: daily frontier")
    assert "assessment" in two.requests[-1].messages[0].content.lower()  # asked with Tier 2's own instruction


async def test_no_fallback_below_the_lowest_tier_the_request_allows():
    one, two, three = tiers((), (), (lower_tier_refusal(),))
    with pytest.raises(RoutingFailure):
        await build(one, two, three, classification=HARD).complete(chat(router={"min_tier": 3}), "r")
    assert two.calls == 0


async def test_a_failing_fallback_is_recorded_as_a_tier_2_failure():
    one, two, three = tiers((), (UpstreamError("light down"),), (lower_tier_refusal(),))
    with pytest.raises(RoutingFailure) as caught:
        await build(one, two, three, classification=HARD, cascade=SINGLE_ANSWER).complete(chat(), "r")
    tried = caught.value.details["tried"]
    assert tried[-1]["from_tier"] == 2 and "light down" in tried[-1]["reason"]


async def test_a_stream_starts_with_its_tiers_first_delta_and_says_what_was_passed_over():
    one, two, three = tiers((), (), ())
    started = await build(one, two, three).stream(chat(), "r1")  # SIMPLE: Tier 1 streams
    assert started.first.text == "tier " and started.decision.tier == 1
    assert (started.decision.provider, started.decision.model) == ("p1", "m1")
    rest = [d async for d in started.rest]
    assert "".join(d.text for d in rest) == "1 says hi" and rest[-1].usage == Usage(prompt_tokens=3,
                                                                                    completion_tokens=4)


async def test_an_action_the_classifier_names_is_answered_at_tier_1_with_no_model_and_no_usage():
    action = SIMPLE.model_copy(update={"action": "cert", "target": "az-900"})
    one, two, three = tiers((), (), ())
    for operation in ("complete", "stream"):
        result = await getattr(build(one, two, three, classification=action), operation)(
            chat("tell me about az-900"), "r")
        assert (result.decision.tier, result.decision.command, result.model) == (1, "cert", "tier-1-action")
        assert (result.usage, result.finish_reason, result.text) == (Usage(), "stop", "Certification az-900")
        assert result.command is not None and result.command.text == result.text
        assert "the classification named the action /cert, which ran" in result.decision.reasons
    assert (one.calls, two.calls, three.calls) == (0, 0, 0)
