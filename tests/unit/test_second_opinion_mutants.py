"""The second opinion, verdict by verdict, where mutation testing found its tests loose: what it asks the
tier for, what it costs, how its score is made and what it says when it cannot be had."""

import asyncio
import math
from decimal import Decimal

from router.cascade.score import EscalationScorer
from router.core.config import parse_config
from router.core.errors import UpstreamError
from router.core.generation import Generation, GenerationRequest, Message, Sample, Usage
from router.decision.second_opinion import Checked, SecondOpinion
from router.decision.self_assessment import Assessment
from tests.configs import DEAD_URL, provider, router_config
from tests.unit.test_dispatcher import assessment

QUESTION = ("Which gas do plants take in?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon\n"
            'Print only a single choice from "A" or "B" or "C" or "D" without explanation.\nAnswer:')
WORK = GenerationRequest(request_id="r1", messages=[Message(role="user", content=QUESTION)], max_tokens=512,
                         temperature=0.2)
HANG = "hang"


def reply(text: str, *samples: Sample, finish: str = "stop", completion_tokens: int = 2,
          cost: Decimal | None = None) -> Generation:
    return Generation(text=text, samples=list(samples), finish_reason=finish,
                      usage=Usage(prompt_tokens=10, completion_tokens=completion_tokens), model="m", provider="p",
                      cost_usd=cost)


class Tiers:
    """Each tier answers its first call with ``own`` and every later one with ``second`` (or raises, or hangs)."""

    def __init__(self, replies: dict[int, tuple[Generation | Exception | str, ...]]) -> None:
        self.replies = replies
        self.calls: list[tuple[int, GenerationRequest]] = []

    async def __call__(self, number: int, request: GenerationRequest) -> Generation:
        seen = sum(1 for n, _ in self.calls if n == number)
        self.calls.append((number, request))
        options = self.replies[number]
        answer = options[min(seen, len(options) - 1)]
        if answer == HANG:
            await asyncio.sleep(30)
        if isinstance(answer, Exception):
            raise answer
        return answer


def opinion(tiers: Tiers, available: set[int] | None = None, **cascade) -> SecondOpinion:
    document = router_config(providers=[provider("dgx", DEAD_URL, tags=["dgx"])])
    document["cascade"] = cascade
    document["frontier"]["local_cost_per_1k_tokens"] = 0.01
    return SecondOpinion(parse_config(document), tiers, set(tiers.replies) if available is None else available)


async def check(second: SecondOpinion, number: int = 2, routing_score: float | None = 0.4) -> Checked:
    return await asyncio.wait_for(second.check(number, WORK, QUESTION, routing_score), 5)


def expected_score(checked: Checked, routing_score: float, self_quality: float | None) -> float:
    return EscalationScorer(self_assessment_weight=0.25).score(
        checked.verdict.comparison, routing_score, QUESTION, self_quality=self_quality, self_escalate=False)


# ---- the verdict ------------------------------------------------------------------------------------------

async def test_a_resample_asks_for_the_extra_samples_and_the_verdict_describes_itself_exactly():
    tiers = Tiers({2: (reply("B" + assessment(0.9)), reply("B"))})
    checked = await check(opinion(tiers))
    assert checked.answer.text == "B" and checked.problem is None
    assert checked.assessment == Assessment(quality=0.9, reasoning_depth=1, escalate=False)
    assert [n for n, _ in tiers.calls] == [2, 2]
    assert tiers.calls[0][1] == WORK
    assert tiers.calls[1][1] == WORK.model_copy(update={"n": 1, "temperature": 0.7})  # samples - 1, hotter
    verdict = checked.verdict
    score = expected_score(checked, 0.4, 0.9)
    assert (verdict.score, verdict.threshold, verdict.source, verdict.raw_score) == (score, 0.5, "resample", None)
    assert verdict.usage == Usage(prompt_tokens=10, completion_tokens=2)
    assert verdict.cost_usd == Decimal("0.00012")  # 12 tokens at $0.01 per 1k
    assert verdict.describe() == {
        "second_opinion": "resample", "form": "choice", "sources": ["tier-2", "resample 1"], "answers": ["B", "B"],
        "problems": [None, None], "agreement": 1.0, "escalation_score": round(score, 4), "threshold": 0.5,
        "escalate": False, "cost_usd": "0.00012", "completion_tokens": 2}


async def test_an_answer_without_a_self_assessment_is_still_checked():
    tiers = Tiers({2: (reply("B"), reply("C"))})
    checked = await check(opinion(tiers), routing_score=None)
    assert checked.assessment is None and checked.problem is None
    verdict = checked.verdict
    assert verdict.score == expected_score(checked, 0.5, None)  # no routing score reads as 0.5
    assert verdict.comparison.answers == ("B", "C") and verdict.comparison.agreement == 0.0
    assert verdict.escalate is (verdict.score >= 0.5)


async def test_a_truncated_sample_of_the_second_opinion_counts_as_a_problem():
    second = reply("B", Sample(text="B", finish_reason="length"), finish="length", completion_tokens=4)
    tiers = Tiers({2: (reply("B" + assessment(0.8)), second)})
    checked = await check(opinion(tiers, samples=3))
    assert tiers.calls[1][1].n == 2
    comparison = checked.verdict.comparison
    assert comparison.sources == ("tier-2", "resample 1", "resample 2")
    assert comparison.problems == (None, "truncated", "truncated")
    assert comparison.agreement == 0.0
    assert checked.verdict.describe()["completion_tokens"] == 4


async def test_only_the_truncated_sample_is_set_aside():
    second = reply("B", Sample(text="B", finish_reason="length"))
    tiers = Tiers({2: (reply("B" + assessment(0.8)), second)})
    checked = await check(opinion(tiers, samples=3))
    assert checked.verdict.comparison.problems == (None, None, "truncated")
    assert checked.verdict.comparison.agreement == 0.5


async def test_a_recalibration_reads_the_agreement_and_the_routing_score_and_keeps_the_raw_score():
    recalibration = {"intercept": -1.0, "weights": {"agreement": 2.0, "routing_score": 3.0}, "fitted_on": "test"}
    tiers = Tiers({2: (reply("B" + assessment(0.9)), reply("B"))})
    checked = await check(opinion(tiers, recalibration=recalibration), routing_score=0.9)
    verdict = checked.verdict
    score = 1.0 / (1.0 + math.exp(-(-1.0 + 2.0 * 1.0 + 3.0 * 0.9)))
    raw = expected_score(checked, 0.9, 0.9)
    assert math.isclose(verdict.score, score, rel_tol=1e-12) and verdict.raw_score == raw
    described = verdict.describe()
    assert (described["escalation_score"], described["raw_escalation_score"]) == (round(score, 4), round(raw, 4))
    assert described["escalate"] is True  # the correction, not the raw score, meets the threshold


# ---- a second opinion that cannot be had -------------------------------------------------------------------

async def test_a_second_opinion_slower_than_its_timeout_is_given_up_and_says_it_timed_out():
    tiers = Tiers({2: (reply("B" + assessment(0.9)), HANG)})
    checked = await check(opinion(tiers, timeout_s=0.05))
    assert checked.verdict is None and checked.answer.text == "B"
    assert checked.assessment == Assessment(quality=0.9, reasoning_depth=1)
    assert checked.problem == "second opinion (resample) failed: timed out"


async def test_a_second_opinion_that_fails_names_the_error():
    tiers = Tiers({2: (reply("B"), UpstreamError("sampler down"))})
    assert (await check(opinion(tiers))).problem == "second opinion (resample) failed: sampler down"
    crashed = Tiers({2: (reply("B"), RuntimeError("boom"))})
    assert (await check(opinion(crashed))).problem == "second opinion (resample) failed: RuntimeError"


async def test_tier_1_cannot_second_itself_nor_give_an_opinion_when_it_is_not_there():
    own = Tiers({1: (reply("B"),), 2: (reply("B"),)})
    checked = await check(opinion(own, second_opinion="tier-1", check_tier_1=True), number=1)
    assert checked.verdict is None
    assert checked.problem == "second opinion (tier-1) failed: tier 1 cannot give a second opinion here"
    absent = Tiers({2: (reply("B"),)})
    checked = await check(opinion(absent, second_opinion="tier-1"))
    assert checked.problem == "second opinion (tier-1) failed: tier 1 cannot give a second opinion here"
    assert [n for n, _ in absent.calls] == [2]


async def test_a_provider_second_opinion_without_the_frontier_pool_says_it_is_not_reachable():
    tiers = Tiers({1: (reply("B"),), 2: (reply("B" + assessment(0.9)),)})
    checked = await check(opinion(tiers, second_opinion="provider:dgx"))
    assert checked.verdict is None and checked.answer.text == "B"
    assert checked.problem == "second opinion (provider:dgx) failed: the frontier pool is not reachable"
    assert [n for n, _ in tiers.calls] == [2]


# ---- the other sources ------------------------------------------------------------------------------------

async def test_the_micro_model_as_second_opinion_is_asked_within_its_own_token_limit():
    tiers = Tiers({1: (reply("C", completion_tokens=1),), 2: (reply("B" + assessment(0.9)),)})
    checked = await check(opinion(tiers, second_opinion="tier-1"))
    assert tiers.calls[1] == (1, WORK.model_copy(update={"max_tokens": 128}))
    verdict = checked.verdict
    assert verdict.comparison.sources == ("tier-2", "tier-1 1") and verdict.comparison.answers == ("B", "C")
    assert verdict.cost_usd == Decimal("0.00011") and verdict.usage.completion_tokens == 1


async def test_a_provider_second_opinion_asks_that_provider_and_is_charged_what_it_settled():
    tiers = Tiers({2: (reply("B" + assessment(0.9)),), 3: (reply("B", cost=Decimal("0.0042")),)})
    checked = await check(opinion(tiers, second_opinion="provider:dgx"))
    assert tiers.calls[1] == (3, WORK.model_copy(update={"provider": "dgx"}))
    described = checked.verdict.describe()
    assert (described["second_opinion"], described["sources"], described["cost_usd"]) == (
        "provider:dgx", ["tier-2", "provider:dgx 1"], "0.0042")


# ---- where it applies -------------------------------------------------------------------------------------

def test_the_second_opinion_applies_only_where_an_answer_could_still_go_higher():
    tiers = Tiers({1: (), 2: (), 3: ()})
    default, tier_1, off = opinion(tiers), opinion(tiers, check_tier_1=True), opinion(tiers, enabled=False)
    assert [default.applies(2, 3), default.applies(2, 2), default.applies(1, 3)] == [True, False, False]
    assert [tier_1.applies(1, 3), tier_1.applies(1, 1), tier_1.applies(3, 3)] == [True, False, False]
    assert off.applies(2, 3) is False
