"""A tier's answer checked against a second local opinion before it is returned or escalated.

The tier's own answer and the second opinion are asked for at once: ``resample`` asks the same tier for
``samples - 1`` more completions in one request (vLLM prefills the prompt once), ``tier-1`` asks the micro
model, ``provider:<name>`` asks one local provider of the frontier pool. The answers are compared by form
(``router.cascade``), and the calibrated escalation score decides. A second opinion that fails or times out
leaves the single-answer decision in charge, and the reasons say so.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from router.cascade.compare import Candidate, Comparison, compare
from router.cascade.recalibration import recalibrate
from router.cascade.score import EscalationScorer
from router.core.config import RouterConfig
from router.core.errors import RouterError, UpstreamError
from router.core.generation import Generation, GenerationRequest, Usage
from router.decision.self_assessment import Assessment, split_assessment

TierCall = Callable[[int, GenerationRequest], Awaitable[Generation]]


@dataclass(frozen=True)
class Verdict:
    comparison: Comparison
    score: float
    threshold: float
    source: str
    usage: Usage  # what the second opinion used
    cost_usd: Decimal  # at the amortised local price (or the provider's, for provider:<name>)
    raw_score: float | None = None  # the shipped score, when cascade.recalibration made ``score`` from it

    @property
    def escalate(self) -> bool:
        return self.score >= self.threshold

    def describe(self) -> dict[str, object]:
        c = self.comparison
        scores = {"escalation_score": round(self.score, 4)}
        if self.raw_score is not None:
            scores["raw_escalation_score"] = round(self.raw_score, 4)
        return {"second_opinion": self.source, "form": c.form, "sources": list(c.sources), "answers": list(c.answers),
                "problems": list(c.problems), "agreement": c.agreement, **scores,
                "threshold": self.threshold, "escalate": self.escalate, "cost_usd": str(self.cost_usd),
                "completion_tokens": self.usage.completion_tokens}


@dataclass(frozen=True)
class Checked:
    answer: Generation  # the tier's own answer, its self-assessment split off
    assessment: Assessment | None
    verdict: Verdict | None  # None: no second opinion could be had
    problem: str | None = None  # why not


class SecondOpinion:
    def __init__(self, config: RouterConfig, call: TierCall, tiers: set[int],
                 scorer: EscalationScorer | None = None) -> None:
        self.config = config
        self.settings = config.cascade
        self._call = call
        self._tiers = tiers
        self.scorer = scorer or EscalationScorer(self_assessment_weight=self.settings.self_assessment_weight)

    def applies(self, number: int, high: int) -> bool:
        """Checked only where an answer could still go higher."""
        s = self.settings
        return s.enabled and high > number and (number == 2 or (number == 1 and s.check_tier_1))

    async def check(self, number: int, work: GenerationRequest, prompt: str, routing_score: float | None) -> Checked:
        own = asyncio.ensure_future(self._call(number, work))
        other = asyncio.ensure_future(self._second(number, work))
        try:
            answer = await own
        except BaseException:
            other.cancel()
            raise
        text, assessment = split_assessment(answer.text)
        answer = answer.model_copy(update={"text": text})
        try:
            second = await other
        except Exception as exc:  # noqa: BLE001 - whatever failed, the single-answer decision still stands
            why = exc.message if isinstance(exc, RouterError) else (
                "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}")
            return Checked(answer, assessment, None, f"second opinion ({self.settings.second_opinion}) failed: {why}")
        candidates = [Candidate(f"tier-{number}", answer.text, answer.finish_reason), *second[0]]
        comparison = compare(prompt, candidates)
        quality = None if assessment is None else assessment.quality
        score = self.scorer.score(comparison, 0.5 if routing_score is None else routing_score, prompt,
                                   self_quality=quality, self_escalate=bool(assessment and assessment.escalate))
        raw = None
        if self.settings.recalibration is not None:  # the workspace's own correction; the threshold reads it
            raw, score = score, recalibrate(score, self_quality=quality, agreement=comparison.agreement,
                                            routing_score=routing_score, recalibration=self.settings.recalibration)
        usage, cost = second[1], second[2]
        return Checked(answer, assessment, Verdict(comparison, score, self.settings.threshold,
                                                   self.settings.second_opinion, usage, cost, raw_score=raw))

    async def _second(self, number: int, work: GenerationRequest) -> tuple[list[Candidate], Usage, Decimal]:
        s = self.settings
        if s.second_opinion == "resample":
            target, request = number, work.model_copy(update={"n": s.samples - 1, "temperature": s.temperature})
        elif s.second_opinion == "tier-1":
            if number == 1 or 1 not in self._tiers:
                raise UpstreamError("tier 1 cannot give a second opinion here", code="no_second_opinion")
            target, request = 1, work.model_copy(update={"max_tokens": self.config.tiers.micro.max_tokens})
        else:
            if 3 not in self._tiers:
                raise UpstreamError("the frontier pool is not reachable", code="no_second_opinion")
            target, request = 3, work.model_copy(update={"provider": s.provider})
        call = self._call(target, request)
        generation = await (asyncio.wait_for(call, s.timeout_s) if s.timeout_s else call)
        texts = [(generation.text, generation.finish_reason)] + [(x.text, x.finish_reason) for x in generation.samples]
        candidates = [Candidate(f"{s.second_opinion} {i + 1}", split_assessment(text)[0], finish)
                      for i, (text, finish) in enumerate(texts)]
        if generation.cost_usd is not None:
            cost = generation.cost_usd
        else:
            per_1k = Decimal(str(self.config.frontier.local_cost_per_1k_tokens))
            cost = per_1k * generation.usage.total_tokens / 1000
        return candidates, generation.usage, cost
