"""The live chain with the second opinion: plain async fake tiers, no Ray."""

import asyncio

from router.core.api import ChatCompletionRequest
from router.core.config import parse_config
from router.core.errors import UpstreamError
from router.core.generation import (
    Generation,
    GenerationRequest,
    Sample,
    StreamDelta,
    Usage,
)
from router.core.tiers import TierEndpoint, TierStatus
from router.decision.classification import Classification
from router.decision.commands import CommandExecutor
from router.decision.dispatcher import Dispatcher, StreamingCompletion
from tests.unit.test_dispatcher import (
    COMPLEX,
    FixedClassifier,
    assessment,
    router_config,
)

QUESTION = ("Which gas do plants take in?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon\n"
            'Print only a single choice from "A" or "B" or "C" or "D" without explanation.\nAnswer:')


class SamplingTier:
    """Answers ``first`` to a plain request and ``others`` (one per sample) to a request for n samples."""

    def __init__(self, number: int, first: str, *others: str | Exception) -> None:
        self.number, self.first, self.others = number, first, list(others)
        self.requests: list[GenerationRequest] = []
        self.streamed = 0
        self.endpoint = TierEndpoint(number, self.generate, self.stream, self.status, 1.0)

    async def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        if request.n == 1 and not (request.temperature and request.temperature > 0.5):
            return Generation(text=self.first, usage=Usage(prompt_tokens=10, completion_tokens=2),
                              model=f"m{self.number}", provider=f"p{self.number}")
        if isinstance(self.others[0], Exception):
            raise self.others[0]
        texts = (self.others * request.n)[:request.n]
        return Generation(text=texts[0], samples=[Sample(text=t) for t in texts[1:]],
                          usage=Usage(prompt_tokens=10, completion_tokens=2 * request.n),
                          model=f"m{self.number}", provider=f"p{self.number}")

    async def stream(self, request: GenerationRequest):
        self.streamed += 1
        answer = await self.generate(request)
        yield StreamDelta(text=answer.text, model=answer.model, provider=answer.provider)
        yield StreamDelta(usage=answer.usage, finish_reason="stop")

    async def status(self) -> TierStatus:
        return TierStatus(True, provider=f"p{self.number}", model=f"m{self.number}")


def build(*tiers: SamplingTier, classification: Classification = COMPLEX, **cascade) -> Dispatcher:
    document = router_config()
    document["cascade"] = cascade
    document.setdefault("frontier", {})["local_cost_per_1k_tokens"] = 0.01
    config = parse_config(document)

    async def status():
        return {}

    return Dispatcher(config, CommandExecutor(config, status=status), {t.number: t.endpoint for t in tiers},
                      classifier=FixedClassifier(classification))


def chat(text: str = QUESTION) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": text}]})


async def test_agreeing_answers_are_kept_at_tier_2_and_the_decision_explains_itself():
    two, three = SamplingTier(2, "B" + assessment(0.9), "B" + assessment(0.9)), SamplingTier(3, "B")
    completion = await build(two, three).complete(chat(), "r1")
    decision = completion.decision
    assert decision.tier == 2 and completion.text == "B" and three.requests == []
    assert decision.cascade["form"] == "choice" and decision.cascade["answers"] == ["B", "B"]
    assert decision.cascade["agreement"] == 1.0 and decision.escalation_score < 0.5
    resample = two.requests[1]
    assert (resample.n, resample.temperature) == (1, 0.7)  # samples - 1 more, at the cascade's temperature
    assert decision.cascade["cost_usd"] == "0.00012"  # (10 + 2) tokens at $0.01 per 1k: the extra sample is paid


async def test_disagreeing_answers_escalate_to_tier_3():
    two, three = SamplingTier(2, "B" + assessment(0.95), "C"), SamplingTier(3, "B")
    completion = await build(two, three).complete(chat(), "r1")
    assert completion.decision.tier == 3 and completion.text == "B"
    step = completion.decision.escalations[-1]
    assert (step.from_tier, step.to_tier) == (2, 3) and "escalation score" in step.reason
    assert completion.decision.cascade["answers"] == ["B", "C"] and completion.decision.escalation_score >= 0.5


async def test_a_refusal_escalates_even_when_the_resample_refuses_alike():
    refusal = "I'm sorry, I can't help with that."
    two, three = SamplingTier(2, refusal + assessment(0.9), refusal), SamplingTier(3, "B")
    completion = await build(two, three).complete(chat(), "r1")
    assert completion.decision.tier == 3 and completion.decision.cascade["problems"][0] == "refused"


async def test_a_failed_second_opinion_falls_back_to_the_single_answer_decision():
    two, three = SamplingTier(2, "B" + assessment(0.9), UpstreamError("sampler down")), SamplingTier(3, "B")
    completion = await build(two, three).complete(chat(), "r1")
    assert completion.decision.tier == 2 and completion.text == "B"
    assert any("second opinion (resample) failed: sampler down; decided on the single answer" in r
               for r in completion.decision.reasons)
    assert completion.decision.escalation_score is None


async def test_the_micro_model_can_be_the_second_opinion():
    one, two, three = SamplingTier(1, "C"), SamplingTier(2, "B" + assessment(0.9)), SamplingTier(3, "B")
    completion = await build(one, two, three, second_opinion="tier-1").complete(chat(), "r1")
    assert completion.decision.tier == 3 and completion.decision.cascade["answers"] == ["B", "C"]
    assert one.requests[-1].max_tokens == 128  # the micro tier's own limit


async def test_a_streamed_request_sends_nothing_before_the_decision():
    two, three = SamplingTier(2, "B" + assessment(0.9), "C"), SamplingTier(3, "B")
    started = await build(two, three).stream(chat(), "r1")
    assert isinstance(started, StreamingCompletion)
    # Tier 2 was asked whole (never streamed); the first delta comes from Tier 3, after the decision.
    assert two.streamed == 0 and len(two.requests) == 2 and started.decision.tier == 3
    assert started.first.text == "B"


async def test_the_tier_1_check_escalates_a_disputed_micro_answer():
    one, two = SamplingTier(1, "B", "D"), SamplingTier(2, "B" + assessment(0.9), "B")
    simple = COMPLEX.model_copy(update={"recommended_tier": 1, "complexity_score": 0.1, "confidence": 0.95})
    completion = await build(one, two, SamplingTier(3, "B"), classification=simple,
                             check_tier_1=True).complete(chat(), "r1")
    assert [(e.from_tier, e.to_tier) for e in completion.decision.escalations][0] == (1, 2)


async def test_a_slow_second_opinion_times_out_and_the_answer_still_goes_out():
    class Slow(SamplingTier):
        async def generate(self, request: GenerationRequest) -> Generation:
            if request.n == 1 and request.temperature == 0.7:
                await asyncio.Event().wait()
            return await super().generate(request)

    two = Slow(2, "B" + assessment(0.9), "B")
    completion = await build(two, SamplingTier(3, "B"), timeout_s=0.05).complete(chat(), "r1")
    assert completion.decision.tier == 2 and any("timed out" in r for r in completion.decision.reasons)


async def test_a_local_provider_of_the_pool_can_be_the_second_opinion():
    from tests.configs import provider

    two, three = SamplingTier(2, "B" + assessment(0.9)), SamplingTier(3, "D")
    document = router_config(providers=[provider("dgx", "http://127.0.0.1:1/v1", tags=["dgx"])])
    document["cascade"] = {"second_opinion": "provider:dgx"}
    config = parse_config(document)

    async def status():
        return {}

    dispatcher = Dispatcher(config, CommandExecutor(config, status=status), {2: two.endpoint, 3: three.endpoint},
                            classifier=FixedClassifier(COMPLEX))
    completion = await dispatcher.complete(chat(), "r1")
    assert three.requests[0].provider == "dgx"  # pinned: no other provider of the pool may answer it
    assert completion.decision.cascade["answers"] == ["B", "D"] and completion.decision.tier == 3


def test_a_cloud_provider_cannot_be_the_second_opinion():
    import pytest

    from router.core.errors import InvalidRequest
    from tests.configs import provider

    document = router_config(providers=[provider("cloud", "http://127.0.0.1:1/v1", tags=["cloud"])])
    document["cascade"] = {"second_opinion": "provider:cloud"}
    with pytest.raises(InvalidRequest, match="not tagged local or dgx"):
        parse_config(document)


async def test_the_decision_records_the_whole_verdict():
    two = SamplingTier(2, "B" + assessment(0.9), "B" + assessment(0.9), "C")
    completion = await build(two, SamplingTier(3, "B"), samples=3).complete(chat(), "r1")
    cascade = completion.decision.cascade
    assert two.requests[1].n == 2  # samples - 1 more, in one request
    assert cascade == {"second_opinion": "resample", "form": "choice",
                       "sources": ["tier-2", "resample 1", "resample 2"], "answers": ["B", "B", "C"],
                       "problems": [None, None, None], "agreement": 0.5,
                       "escalation_score": completion.decision.escalation_score, "threshold": 0.5,
                       "escalate": completion.decision.tier == 3, "cost_usd": "0.00014",
                       "completion_tokens": 4}


async def test_the_models_own_grade_moves_the_score_both_ways():
    async def score(reply: str) -> float:
        two = SamplingTier(2, reply, "B")
        return (await build(two, SamplingTier(3, "B")).complete(chat(), "r")).decision.escalation_score

    confident, doubtful = await score("B" + assessment(0.99)), await score("B" + assessment(0.05))
    asked = await score("B" + assessment(0.99, escalate=True))
    assert confident < doubtful and confident < asked


async def test_a_primary_answer_cut_off_by_max_tokens_counts_as_a_problem():
    class Truncating(SamplingTier):
        async def generate(self, request):
            answer = await super().generate(request)
            return answer if request.n > 1 or request.temperature else answer.model_copy(
                update={"finish_reason": "length"})

    completion = await build(Truncating(2, "B" + assessment(0.9), "B"), SamplingTier(3, "B")).complete(chat(), "r")
    assert completion.decision.cascade["problems"][0] == "truncated" and completion.decision.tier == 3


async def test_a_second_opinion_that_cannot_be_had_says_why_and_the_single_answer_decides():
    two = SamplingTier(2, "B" + assessment(0.9))
    micro_missing = await build(two, SamplingTier(3, "B"), second_opinion="tier-1").complete(chat(), "r")
    assert any("tier 1 cannot give a second opinion here" in r for r in micro_missing.decision.reasons)

    class Broken(SamplingTier):
        async def generate(self, request):
            if request.temperature == 0.7:
                raise RuntimeError("bug")
            return await super().generate(request)

    broken = await build(Broken(2, "B" + assessment(0.9), "B"), SamplingTier(3, "B")).complete(chat(), "r")
    assert any("second opinion (resample) failed: RuntimeError" in r for r in broken.decision.reasons)
    assert broken.decision.tier == 2


async def test_nothing_is_checked_where_the_answer_cannot_go_higher():
    two = SamplingTier(2, "B" + assessment(0.9), "C")
    request = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": QUESTION}],
                                                   "router": {"max_tier": 2}})
    completion = await build(two, SamplingTier(3, "B")).complete(request, "r")
    assert len(two.requests) == 1 and completion.decision.cascade is None and completion.decision.tier == 2


async def test_a_provider_second_opinion_is_charged_what_the_pool_settled():
    from decimal import Decimal

    from tests.configs import provider

    class Pool(SamplingTier):
        async def generate(self, request):
            answer = await super().generate(request)
            return answer.model_copy(update={"cost_usd": Decimal("0.0042")})

    document = router_config(providers=[provider("dgx", "http://127.0.0.1:1/v1", tags=["dgx"])])
    document["cascade"] = {"second_opinion": "provider:dgx"}
    config = parse_config(document)

    async def status():
        return {}

    two, three = SamplingTier(2, "B" + assessment(0.9)), Pool(3, "B")
    dispatcher = Dispatcher(config, CommandExecutor(config, status=status), {2: two.endpoint, 3: three.endpoint},
                            classifier=FixedClassifier(COMPLEX))
    completion = await dispatcher.complete(chat(), "r1")
    assert completion.decision.cascade["cost_usd"] == "0.0042"
