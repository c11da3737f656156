"""The escalation chain without Ray: tiers are plain async callables."""

import asyncio

import pytest

from router.api import ChatCompletionRequest
from router.commands import CommandExecutor
from router.config import parse_config
from router.dispatcher import Dispatcher, TierEndpoint, TierStatus
from router.errors import InvalidRequest, NotFound, RoutingFailure, TierUnavailable, UpstreamError
from router.generation import Generation, GenerationRequest, StreamDelta, Usage
from tests.configs import router_config


class ScriptedTier:
    """A tier that answers, fails with a given error, or hangs; it counts its calls."""

    def __init__(self, number: int, behaviour: str | Exception = "ok", timeout_s: float = 1.0) -> None:
        self.number, self.behaviour, self.calls = number, behaviour, 0
        self.endpoint = TierEndpoint(number, self.generate, self.stream, self.status, timeout_s)

    async def generate(self, request: GenerationRequest) -> Generation:
        self.calls += 1
        await self._misbehave()
        return Generation(text=f"tier {self.number} says hi", usage=Usage(prompt_tokens=3, completion_tokens=4),
                          model=f"m{self.number}", provider=f"p{self.number}")

    async def stream(self, request: GenerationRequest):
        self.calls += 1
        await self._misbehave()
        yield StreamDelta(text="tier ", model=f"m{self.number}", provider=f"p{self.number}")
        yield StreamDelta(text=f"{self.number}", usage=Usage(completion_tokens=2), finish_reason="stop")

    async def status(self) -> TierStatus:
        if isinstance(self.behaviour, Exception):
            return TierStatus(False, str(self.behaviour))
        return TierStatus(True, provider=f"p{self.number}", model=f"m{self.number}")

    async def _misbehave(self) -> None:
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        if isinstance(self.behaviour, Exception):
            raise self.behaviour


def build(*tiers: ScriptedTier) -> Dispatcher:
    config = parse_config(router_config())

    async def status():
        return {}

    return Dispatcher(config, CommandExecutor(config, status=status), {t.number: t.endpoint for t in tiers})


def chat(text: str = "hello", **extra) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": text}], **extra})


async def test_the_lowest_tier_answers_when_it_can():
    one, two, three = ScriptedTier(1), ScriptedTier(2), ScriptedTier(3)
    completion = await build(one, two, three).complete(chat(), "r1")
    assert completion.text == "tier 1 says hi"
    assert completion.decision.tier == 1 and completion.decision.provider == "p1"
    assert completion.decision.escalations == []
    assert (one.calls, two.calls, three.calls) == (1, 0, 0)
    assert completion.usage.total_tokens == 7


async def test_an_unavailable_tier_escalates_to_the_next_and_the_decision_says_why():
    one = ScriptedTier(1, TierUnavailable("no endpoint configured"))
    two = ScriptedTier(2)
    completion = await build(one, two, ScriptedTier(3)).complete(chat(), "r1")
    assert completion.decision.tier == 2
    [escalation] = completion.decision.escalations
    assert (escalation.from_tier, escalation.to_tier) == (1, 2)
    assert "no endpoint configured" in escalation.reason


async def test_a_tier_that_times_out_escalates():
    one = ScriptedTier(1, "hang", timeout_s=0.05)
    completion = await build(one, ScriptedTier(2)).complete(chat(), "r1")
    assert completion.decision.tier == 2
    assert "timed out after 0.05s" in completion.decision.escalations[0].reason


async def test_when_every_tier_fails_the_error_names_each_tier_and_what_to_configure():
    tiers = [ScriptedTier(n, UpstreamError(f"boom {n}")) for n in (1, 2, 3)]
    with pytest.raises(RoutingFailure) as caught:
        await build(*tiers).complete(chat(), "r1")
    error = caught.value
    assert error.status_code == 503 and error.code == "routing_failure"
    assert "tier 1 (micro), tier 2 (light), tier 3 (frontier)" in error.message
    assert "boom 1" in error.message and "boom 3" in error.message
    assert "tiers.micro.base_url" in error.message
    assert [t["from_tier"] for t in error.details["tried"]] == [1, 2, 3]


async def test_a_callers_own_error_is_not_escalated():
    one = ScriptedTier(1, InvalidRequest("bad stop sequence"))
    two = ScriptedTier(2)
    with pytest.raises(InvalidRequest):
        await build(one, two).complete(chat(), "r1")
    assert two.calls == 0


async def test_a_tier_0_command_is_answered_without_calling_any_tier():
    tiers = [ScriptedTier(n) for n in (1, 2, 3)]
    completion = await build(*tiers).complete(chat("/cert az-104"), "r1")
    assert completion.text == "Certification az-104"
    assert completion.decision.tier == 0 and completion.decision.command == "cert"
    assert sum(t.calls for t in tiers) == 0


@pytest.mark.parametrize(("model", "expected_tier"), [("tier-2", 2), ("tier-3", 3), ("router", 1)])
async def test_a_tier_alias_pins_the_tier(model, expected_tier):
    completion = await build(ScriptedTier(1), ScriptedTier(2), ScriptedTier(3)).complete(chat(model=model), "r")
    assert completion.decision.tier == expected_tier


async def test_router_hints_bound_the_tiers():
    dispatcher = build(ScriptedTier(1), ScriptedTier(2), ScriptedTier(3))
    completion = await dispatcher.complete(chat(router={"min_tier": 2}), "r")
    assert completion.decision.tier == 2
    with pytest.raises(InvalidRequest, match="no tier satisfies"):
        await dispatcher.complete(chat(model="tier-3", router={"max_tier": 2}), "r")


async def test_an_unknown_model_is_a_404_listing_the_models():
    with pytest.raises(NotFound) as caught:
        await build(ScriptedTier(1)).complete(chat(model="gpt-17"), "r")
    assert caught.value.code == "model_not_found"
    assert "router" in caught.value.message and "tier-3" in caught.value.message


async def test_streaming_escalates_before_the_first_delta_only():
    one = ScriptedTier(1, TierUnavailable("down"))
    started = await build(one, ScriptedTier(2)).stream(chat(stream=True), "r")
    assert started.decision.tier == 2
    rest = [d async for d in started.rest]
    assert started.first.text + "".join(d.text for d in rest) == "tier 2"
    assert rest[-1].finish_reason == "stop"


async def test_route_picks_the_lowest_available_tier_without_generating():
    one = ScriptedTier(1, TierUnavailable("no endpoint configured"))
    two = ScriptedTier(2)
    decision = await build(one, two).route(chat(), "r")
    assert decision.tier == 2 and decision.provider == "p2"
    assert "unavailable: no endpoint configured" in decision.escalations[0].reason
    assert one.calls == two.calls == 0
