"""Tier bounds: the model alias, an agent's policy, the caller's hints and the workspace, narrowest wins."""

import pytest

from router.core.api import ChatCompletionRequest, RouterHints
from router.core.config import parse_config
from router.core.errors import InvalidRequest, NotFound
from router.decision.policy import Bounds, apply_workspace, tier_bounds
from router.storage.workspaces import WorkspaceSettings

CONFIG = parse_config({"agents": {"researcher": {"min_tier": 2, "preferred_tier": 3},
                                  "starter": {"min_tier": 1}}})


def bounds(model: str = "router", **hints) -> Bounds:
    request = ChatCompletionRequest.model_validate({"model": model, "messages": [{"role": "user", "content": "x"}]})
    return tier_bounds(request, RouterHints(**hints), CONFIG)


def test_the_router_aliases_leave_every_tier_open_and_a_tier_alias_pins_one():
    for alias in ("router", "auto"):
        assert (bounds(alias).low, bounds(alias).high, bounds(alias).reasons) == (1, 3, [])
    pinned = bounds("tier-2")
    assert (pinned.low, pinned.high, pinned.reasons) == (2, 2, ["model tier-2 pins the tier"])


def test_an_unknown_model_is_404_naming_the_field_and_the_aliases():
    with pytest.raises(NotFound) as caught:
        bounds("gpt-17")
    assert (caught.value.code, caught.value.param) == ("model_not_found", "model")
    assert "router, auto, tier-1, tier-2, tier-3" in caught.value.message


def test_an_unknown_agent_is_404_naming_the_hint():
    with pytest.raises(NotFound) as caught:
        bounds(agent_id="nobody")
    assert (caught.value.code, caught.value.param) == ("unknown_agent", "router.agent_id")


def test_an_agent_policy_raises_the_floor_and_supplies_a_preference_the_caller_did_not():
    researcher = bounds(agent_id="researcher")
    assert (researcher.low, researcher.preferred) == (2, 3)
    assert researcher.reasons == ["agent researcher requires tier >= 2"]
    assert bounds(agent_id="researcher", preferred_tier=2).preferred == 2  # the caller's own wins
    starter = bounds(agent_id="starter")  # a floor at the floor: nothing to say
    assert (starter.low, starter.preferred, starter.reasons) == (1, None, [])


def test_caller_hints_narrow_only_when_they_narrow():
    assert bounds(min_tier=1).reasons == [] and bounds(max_tier=3).reasons == []
    raised, lowered = bounds(min_tier=2), bounds(max_tier=2)
    assert (raised.low, raised.reasons) == (2, ["caller asked for tier >= 2"])
    assert (lowered.high, lowered.reasons) == (2, ["caller asked for tier <= 2"])
    assert bounds(preferred_tier=2).preferred == 2


def test_bounds_that_leave_no_tier_are_a_400_on_the_router_hints():
    with pytest.raises(InvalidRequest) as caught:
        bounds("tier-1", min_tier=2)
    assert caught.value.param == "router"


def test_the_workspace_narrows_open_bounds_without_claiming_the_caller_asked():
    narrow = WorkspaceSettings(min_tier=2, max_tier=2)
    applied = apply_workspace(bounds(), narrow, "w")
    assert (applied.low, applied.high) == (2, 2)
    assert applied.reasons == ["workspace w allows tiers 2..2"]  # no "raised"/"lowered": the caller asked nothing


def test_the_workspace_meets_the_callers_own_bounds_and_says_what_moved():
    settings = WorkspaceSettings(min_tier=1, max_tier=2)
    applied = apply_workspace(bounds(min_tier=2), settings, "w")
    assert (applied.low, applied.high, applied.preferred) == (2, 2, None)
    capped = apply_workspace(bounds(max_tier=2), WorkspaceSettings(), "w")
    assert (capped.low, capped.high) == (1, 2) and capped.reasons == ["caller asked for tier <= 2"]
    lowered = apply_workspace(bounds("tier-3"), WorkspaceSettings(max_tier=3, min_tier=3), "w")
    assert (lowered.low, lowered.high) == (3, 3)


def test_the_start_tier_is_the_callers_preference_else_the_workspace_default_else_none():
    assert apply_workspace(bounds(preferred_tier=3), WorkspaceSettings(), "w").preferred == 3
    assert apply_workspace(bounds(), WorkspaceSettings(default_tier=2), "w").preferred == 2
    assert apply_workspace(bounds(), WorkspaceSettings(), "w").preferred is None
    moved = apply_workspace(bounds(preferred_tier=3), WorkspaceSettings(max_tier=2), "w")
    assert moved.preferred == 2 and "workspace w: tier 3 moved to 2 to stay within 1..2" in moved.reasons


def test_the_workspace_decides_whether_requests_escalate_on_their_own():
    assert apply_workspace(bounds(), WorkspaceSettings(enable_auto_escalation=False), "w").auto_escalation is False
    assert apply_workspace(bounds(), WorkspaceSettings(), "w").auto_escalation is True
