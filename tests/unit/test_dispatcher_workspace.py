"""The chain under workspace preferences, and when Tier 3 refuses for money or its daily cap."""

import pytest

from router.core.errors import RoutingFailure, TierUnavailable
from router.core.tiers import TierEndpoint
from tests.unit.test_dispatcher import (
    COMPLEX,
    HARD,
    ScriptedTier,
    assessment,
    build,
    chat,
    tiers,
)

# ---- workspace preferences --------------------------------------------------------------------------

def workspace(**settings):
    from datetime import UTC, datetime

    from router.storage.workspaces import Workspace, WorkspaceSettings

    return Workspace(id="w1", name="team", settings=WorkspaceSettings(**settings), has_api_key=True, key_hint="abcd",
                     created_at=datetime.now(UTC))


async def test_workspace_bounds_narrow_the_tiers_and_are_explained():
    one, two, three = tiers((), (), ())
    completion = await build(one, two, three).complete(chat(), "r", workspace=workspace(min_tier=2))
    assert completion.decision.tier == 2 and one.calls == 0
    assert any("workspace team allows tiers 2..3" in r for r in completion.decision.reasons)


async def test_a_caller_asking_outside_the_workspace_bounds_is_refused_with_403():
    from router.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied) as caught:
        await build(*tiers((), (), ())).complete(chat(model="tier-3"), "r", workspace=workspace(max_tier=2))
    assert caught.value.status_code == 403 and caught.value.code == "tier_not_allowed"


async def test_the_workspace_default_tier_is_where_requests_start():
    completion = await build(*tiers((), (), ())).complete(chat(), "r", workspace=workspace(default_tier=3))
    assert completion.decision.tier == 3


async def test_with_auto_escalation_off_a_poor_tier_2_answer_is_not_escalated():
    one, two, three = tiers((), ("meh" + assessment(0.3),), ())
    completion = await build(one, two, three, classification=COMPLEX).complete(
        chat(), "r", workspace=workspace(enable_auto_escalation=False))
    assert completion.decision.tier == 2 and completion.text == "meh" and three.calls == 0
    assert any("auto-escalation is off" in r for r in completion.decision.reasons)


async def test_without_auto_escalation_a_request_stays_where_it_starts():
    plan = await build(*tiers((), (), ())).planner.plan(
        chat(), "r", {}, workspace=workspace(default_tier=2, enable_auto_escalation=False))
    assert (plan.start, plan.high) == (2, 2)
    assert any("auto-escalation is off for this workspace: stays at tier 2" in r for r in plan.reasons)


async def test_the_frontier_call_carries_the_workspace_for_its_budget_and_keys():
    one, two, three = tiers((), (), ())
    await build(one, two, three, classification=HARD).complete(chat(), "r", workspace=workspace())
    assert three.requests[0].workspace_id == "w1"


# ---- tier 3 refusing for money or its daily cap --------------------------------------------------------

def over_cap() -> Exception:
    from router.core.errors import BudgetExceeded

    return BudgetExceeded("every provider could cost more than max_cost_per_request_usd $0.01",
                          details={"fallback": "lower_tier"})


def daily_cap() -> Exception:
    return TierUnavailable("daily frontier cap of 100 reached", code="daily_cap_reached",
                           details={"fallback": "lower_tier"})


@pytest.mark.parametrize("refusal", [over_cap, daily_cap], ids=["per-request-cap", "daily-cap"])
async def test_a_tier_3_refusal_falls_back_to_tier_2_and_says_so(refusal):
    one, two, three = tiers((), (), (refusal(),))
    completion = await build(one, two, three, classification=HARD).complete(chat(), "r")
    assert completion.decision.tier == 2 and completion.text == "tier 2 says hi"
    assert any("fell back to tier 2" in r for r in completion.decision.reasons)
    assert completion.decision.escalations[-1].from_tier == 3


async def test_over_the_per_request_cap_with_no_lower_tier_allowed_is_a_402():
    from router.core.errors import BudgetExceeded

    one, two, three = tiers((), (), (over_cap(),))
    with pytest.raises(BudgetExceeded) as caught:
        await build(one, two, three).complete(chat(model="tier-3"), "r")
    assert caught.value.status_code == 402 and two.calls == 0


async def test_the_daily_cap_with_no_lower_tier_allowed_is_a_routing_failure_naming_the_cap():
    one, two, three = tiers((), (), (daily_cap(),))
    with pytest.raises(RoutingFailure, match="daily frontier cap of 100 reached"):
        await build(one, two, three).complete(chat(model="tier-3"), "r")


async def test_the_frontier_cost_is_in_the_decision():
    from decimal import Decimal

    three = ScriptedTier(3)
    original = three.generate

    async def priced(request):
        return (await original(request)).model_copy(update={"cost_usd": Decimal("0.0042")})

    three.endpoint = TierEndpoint(3, priced, three.stream, three.status, 1.0)
    completion = await build(ScriptedTier(1), ScriptedTier(2), three).complete(chat(model="tier-3"), "r")
    assert completion.decision.cost_usd == "0.0042"
