"""The plan, field by field: where a request starts and what the classifier said, as the planner makes it."""

from router.core.errors import UpstreamError
from router.decision.planning import is_multi_document_synthesis
from tests.unit.test_dispatcher import (
    COMPLEX,
    MICRO,
    SIMPLE,
    ScriptedTier,
    build,
    chat,
    tiers,
)


def test_multi_document_synthesis_needs_two_documents_and_a_request_to_combine_them():
    two_docs = "Document 1: revenue rose.\nDocument 2: costs fell.\n"
    assert is_multi_document_synthesis(two_docs + "Compare these and reconcile them.")
    assert not is_multi_document_synthesis(two_docs + "What does the first say?")  # no synthesis asked
    assert not is_multi_document_synthesis("Document 1: revenue rose.\nCompare it with last year.")  # one document


async def test_a_command_plan_is_tier_0_only_and_names_the_command():
    one, two, three = tiers((), (), ())
    plan = await build(one, two, three).planner.plan(chat("/help"), "r1", {})
    assert (plan.start, plan.high, plan.command.name, plan.reasons) == (0, 0, "help", ["matched command /help"])
    assert plan.hints is not None


async def test_without_a_classifier_the_preferred_tier_starts_and_says_why():
    one, two, three = tiers((), (), ())
    plan = await build(one, two, three, classification=None).planner.plan(chat(router={"preferred_tier": 2}), "r", {})
    assert plan.start == 2 and "tier 2: preferred; no classifier available" in plan.reasons
    assert plan.classifier is None and plan.classification is None


async def test_the_learned_classifiers_view_is_kept_in_the_plan():
    one, two, three = tiers((), (), ())
    plan = await build(one, two, three, classification=COMPLEX).planner.plan(chat(), "r", {})
    assert (plan.classifier, plan.classification, plan.start) == ("learned", COMPLEX, 2)
    bounded = await build(one, two, three, classification=COMPLEX).planner.plan(chat(router={"min_tier": 3}), "r", {})
    assert bounded.start == 3 and any(r.endswith("bounded to tier 3") for r in bounded.reasons)


async def test_a_micro_model_that_cannot_be_reached_leaves_the_learned_classifier_in_charge():
    one, two, three = ScriptedTier(1, UpstreamError("micro down")), ScriptedTier(2), ScriptedTier(3)
    plan = await build(one, two, three, classification=SIMPLE, classifier=MICRO).planner.plan(chat(), "r", {})
    assert plan.classifier == "learned"
    assert "micro classifier unavailable (upstream_error); the learned classifier decided" in plan.reasons
    request = one.requests[0]
    assert request.request_id == "r-classify" and request.max_tokens == 128  # the micro tier's own limit


async def test_invalid_classifications_name_the_last_problem_and_fall_back_to_the_learned_view():
    one = ScriptedTier(1, "I think this is easy!", '{"intent": "weird", "confidence": 7}')
    plan = await build(one, ScriptedTier(2), ScriptedTier(3), classification=SIMPLE,
                       classifier=MICRO).planner.plan(chat(), "r", {})
    step = plan.escalations[0]
    assert plan.classifier == "learned" and step.reason.startswith("tier 1: 2 invalid classifications (")
    assert "intent" in step.reason  # the second (last) problem: the bad intent, not the first's prose


async def test_the_prescreen_skips_the_micro_call_only_for_a_confident_tier_1_or_tier_3():
    for classification, skipped in ((SIMPLE, True), (COMPLEX.model_copy(update={"confidence": 0.9}), False)):
        one = ScriptedTier(1, SIMPLE.model_dump_json())
        await build(one, ScriptedTier(2), ScriptedTier(3), classification=classification,
                    classifier={"kind": "micro"}).planner.plan(chat(), "r", {})
        assert (one.calls == 0) is skipped, classification


async def test_with_auto_escalation_off_a_request_is_held_at_its_start_tier(db):
    from router.storage.workspaces import WorkspaceSettings, WorkspaceStore

    one, two, three = tiers((), (), ())
    workspace = WorkspaceStore(db).create("w", WorkspaceSettings(enable_auto_escalation=False)).workspace
    plan = await build(one, two, three, classification=COMPLEX).planner.plan(chat(), "r", {}, workspace=workspace)
    assert (plan.start, plan.high) == (2, 2)
    pinned = await build(one, two, three, classification=COMPLEX).planner.plan(chat(model="tier-3"), "r", {},
                                                                               workspace=workspace)
    assert (pinned.start, pinned.high) == (3, 3)  # nothing above to hold back from
