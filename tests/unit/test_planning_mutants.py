"""Where a request starts, pinned down where mutation testing found the planner's tests loose."""

import pytest

from router.core.api import ChatCompletionRequest, Escalation
from router.core.config import parse_config
from router.core.errors import PromptRejected, UpstreamError
from router.core.generation import Generation, GenerationRequest, Usage
from router.decision.classification import Classification
from router.decision.commands import CommandExecutor, CommandMatch
from router.decision.planning import Plan, Planner
from tests.configs import router_config
from tests.unit.test_dispatcher import COMPLEX, SIMPLE, FixedClassifier

COMMANDS = [
    {"name": "cert", "pattern": r"^/cert\s+(?P<cert_id>[A-Za-z0-9-]+)$", "description": "a certification",
     "action": {"type": "respond", "template": "Certification {cert_id}"}},
    {"name": "pair", "pattern": r"^/pair\s+(?P<left>\w+)\s+(?P<right>\w+)$", "description": "two things",
     "action": {"type": "respond", "template": "{left} and {right}"}},
    {"name": "ping", "pattern": r"^/ping$", "description": "no arguments",
     "action": {"type": "respond", "template": "pong"}},
]
VALID = SIMPLE.model_dump_json()  # a micro answer that parses


class MicroTier:
    """Tier 1 as the planner calls it: ``replies`` in turn (the last repeats), an exception raised."""

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies) or [VALID]
        self.calls: list[tuple[int, GenerationRequest]] = []

    async def __call__(self, number: int, request: GenerationRequest) -> Generation:
        self.calls.append((number, request))
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        if isinstance(reply, Exception):
            raise reply
        return Generation(text=reply, usage=Usage(prompt_tokens=3, completion_tokens=4), model="m1", provider="p1")


def planner(tier: MicroTier, learned: Classification | None = SIMPLE, *, available: set[int] | None = None,
            **sections: dict) -> Planner:
    document = router_config(commands=COMMANDS)
    for section, values in sections.items():
        document.setdefault(section, {}).update(values)
    config = parse_config(document)

    async def status():
        return {}

    classifier = FixedClassifier(learned) if learned is not None else None
    return Planner(config, CommandExecutor(config, status=status), classifier, tier,
                   {1, 2, 3} if available is None else available)


def chat(text: str = "hello", **extra) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": text}], **extra})


async def plan(tier: MicroTier, learned: Classification | None = SIMPLE, request: ChatCompletionRequest | None = None,
               **kwargs) -> Plan:
    return await planner(tier, learned, **kwargs).plan(request or chat(), "r", {})


# ---- auto-escalation off (plan: mutant 76) ---------------------------------------------------------------

async def test_auto_escalation_off_says_it_holds_the_request_only_when_there_was_a_higher_tier(db):
    from router.storage.workspaces import WorkspaceSettings, WorkspaceStore

    workspace = WorkspaceStore(db).create("w", WorkspaceSettings(enable_auto_escalation=False)).workspace
    held = await planner(MicroTier(), COMPLEX).plan(chat(), "r", {}, workspace=workspace)
    assert (held.start, held.high) == (2, 2)
    assert held.reasons[-1] == "auto-escalation is off for this workspace: stays at tier 2"
    pinned = await planner(MicroTier(), COMPLEX).plan(chat(model="tier-3"), "r", {}, workspace=workspace)
    assert (pinned.start, pinned.high) == (3, 3)
    assert not any(r.startswith("auto-escalation is off") for r in pinned.reasons)  # nothing above to hold back


# ---- the safety flag (_choose_start: mutants 17, 18) -----------------------------------------------------

async def test_a_safety_flag_without_a_reason_names_the_micro_model():
    flagged = SIMPLE.model_copy(update={"safety_flag": True, "safety_reason": None})
    tier = MicroTier()
    with pytest.raises(PromptRejected) as caught:
        await plan(tier, flagged)
    assert caught.value.message == "the request was refused by the safety screen: flagged by the micro model"
    assert tier.calls == []


# ---- an action named by the classifier (_choose_start: mutant 50; _action_args: mutants 3, 7, 8) ----------

async def test_an_action_is_taken_only_when_the_request_starts_at_tier_1():
    action = {"action": "cert", "target": "az-900"}
    at_one = await plan(MicroTier(), SIMPLE.model_copy(update=action))
    assert (at_one.start, at_one.action) == (1, CommandMatch("cert", {"cert_id": "az-900"}))
    at_two = await plan(MicroTier(), COMPLEX.model_copy(update=action))
    assert (at_two.start, at_two.action) == (2, None)


async def test_an_action_with_several_arguments_or_none_gets_the_target_under_target():
    pair = await plan(MicroTier(), SIMPLE.model_copy(update={"action": "pair", "target": "salt"}))
    assert pair.action == CommandMatch("pair", {"target": "salt"})
    ping = await plan(MicroTier(), SIMPLE.model_copy(update={"action": "ping", "target": "host"}))
    assert ping.action == CommandMatch("ping", {"target": "host"})
    untargeted = await plan(MicroTier(), SIMPLE.model_copy(update={"action": "pair", "target": None}))
    assert untargeted.action == CommandMatch("pair", {})


# ---- when the micro model is asked (_classify: mutants 16, 27, 30) ------------------------------------------

async def test_the_micro_model_is_asked_whenever_tier_1_is_there_even_without_tier_2():
    tier = MicroTier(VALID)
    result = await plan(tier, SIMPLE, available={1, 3}, classifier={"kind": "micro", "prescreen": False})
    assert result.classifier == "micro" and [n for n, _ in tier.calls] == [1]
    assert result.start == 1


async def test_the_prescreen_trusts_a_learned_confidence_exactly_at_the_threshold():
    tier = MicroTier(VALID)
    at_threshold = SIMPLE.model_copy(update={"confidence": 0.75})  # thresholds.confidence defaults to 0.75
    result = await plan(tier, at_threshold, classifier={"kind": "micro"})
    assert tier.calls == [] and result.classifier == "learned"
    assert result.reasons[0] == "the learned classifier was confident: the micro model was not asked"


async def test_the_prescreen_trusts_a_confident_tier_3_recommendation():
    tier = MicroTier(VALID)
    frontier = SIMPLE.model_copy(update={"recommended_tier": 3, "confidence": 0.9})
    result = await plan(tier, frontier, classifier={"kind": "micro"})
    assert tier.calls == [] and result.classifier == "learned" and result.start == 3
    assert result.reasons[0] == "the learned classifier was confident: the micro model was not asked"


# ---- no learned classifier behind the micro model (_classify: mutants 61, 82, 84, 90) ----------------------

async def test_an_unreachable_micro_model_with_no_learned_classifier_leaves_no_classifier():
    tier = MicroTier(UpstreamError("micro down"))
    result = await plan(tier, None, classifier={"kind": "micro", "prescreen": False})
    assert result.classifier is None and result.classification is None and result.start == 1
    assert result.reasons == ["micro classifier unavailable (upstream_error); the learned classifier decided",
                              "no classifier available: starting at the lowest allowed tier 1"]


async def test_invalid_classifications_with_no_learned_classifier_start_at_tier_2_with_no_classifier():
    tier = MicroTier("not json at all", '{"intent": "weird"}', '{"intent": "factual", "confidence": 7}')
    result = await plan(tier, None, classifier={"kind": "micro", "prescreen": False, "max_attempts": 3})
    assert result.classifier is None and result.classification is None
    assert (result.start, len(tier.calls)) == (2, 3)
    assert len(result.escalations) == 1
    step = result.escalations[0]
    assert (step.from_tier, step.to_tier, step.kind) == (1, 2, "invalid_classification")
    assert step.reason == ("tier 1: 3 invalid classifications (micro model output failed validation: "
                           "requires_reasoning: Field required; complexity_score: Field required; confidence: "
                           "Input should be less than or equal to 1; recommended_tier: Field required)")  # the last


async def test_invalid_classifications_are_recorded_as_exactly_one_invalid_classification_step():
    tier = MicroTier("nope", "still nope")
    result = await plan(tier, None, classifier={"kind": "micro", "prescreen": False})
    [step] = result.escalations
    assert step == Escalation(from_tier=1, to_tier=2, reason=step.reason, kind="invalid_classification")
    assert result.classifier is None
