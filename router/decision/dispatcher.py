"""The escalation chain: plan where a request starts, then Tiers 1 -> 2 -> 3 until one answers well.

Tiers are handed in as ``TierEndpoint`` objects holding plain async callables; the ingress
deployment builds them over deployment handles, tests build them over functions. So the
whole chain runs without Ray. Each tier call waits for a slot (``TierGate``) and is bounded by
the tier's timeout; a tier that fails, times out or is saturated is escalated past. Tier 2's
self-assessment can escalate a finished answer to Tier 3.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from router.core.api import ChatCompletionRequest, Escalation, RoutingDecision
from router.core.config import RouterConfig
from router.core.errors import (
    ESCALATABLE_ERRORS,
    BudgetExceeded,
    RouterError,
    RoutingFailure,
    UpstreamTimeout,
)
from router.core.generation import (
    Generation,
    GenerationRequest,
    StreamDelta,
    Usage,
    count_prompt_tokens,
)
from router.core.tiers import TIER_NAMES, TierEndpoint
from router.decision.classification import Classifier
from router.decision.commands import CommandExecutor, CommandResult
from router.decision.concurrency import TierGate
from router.decision.planning import Plan, Planner, is_multi_document_synthesis
from router.decision.second_opinion import Checked, SecondOpinion
from router.decision.self_assessment import (
    split_assessment,
    with_assessment_instruction,
)
from router.storage.workspaces import Workspace

log = logging.getLogger(__name__)

@dataclass
class Completion:
    decision: RoutingDecision
    text: str
    usage: Usage
    finish_reason: str
    model: str
    command: CommandResult | None = None


@dataclass
class StreamingCompletion:
    """A stream whose first delta has already arrived, so its tier is known."""

    decision: RoutingDecision
    first: StreamDelta
    rest: AsyncIterator[StreamDelta]


# One tier's attempt at a request: an answer, or None when Tier 2 judged its own not good enough.
_AnswerAt = Callable[[Plan, int, ChatCompletionRequest], Awaitable[Completion | StreamingCompletion | None]]


class Dispatcher:
    def __init__(self, config: RouterConfig, commands: CommandExecutor, tiers: dict[int, TierEndpoint],
                 classifier: Classifier | None = None, *, local_admission: bool = True,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        """``local_admission``: limit each tier's concurrency in this process. Under Serve the ingress
        turns it off: replicas bound their own concurrency (``max_ongoing_requests``), callers' queues are
        bounded by ``max_queued_requests``, and autoscaling adds capacity this process cannot see."""
        self.config = config
        self._clock = clock  # times each tier (tier_latency_ms); tests pass their own
        self.commands = commands
        self.tiers = tiers
        settings = {1: config.tiers.micro, 2: config.tiers.light, 3: config.tiers.frontier}
        self.gates = {n: TierGate(n, settings[n].concurrency if local_admission else 1_000_000,
                                  settings[n].queue_wait_s) for n in tiers}
        self.planner = Planner(config, commands, classifier, self._call, set(tiers))
        self.second_opinion = SecondOpinion(config, self._call, set(tiers))

    # ---- public operations ------------------------------------------------------------------------

    async def route(self, request: ChatCompletionRequest, request_id: str,
                    headers: Mapping[str, str] | None = None, *, use_models: bool = True,
                    workspace: Workspace | None = None) -> RoutingDecision:
        """The decision alone: which tier (and provider) would answer; no answer is generated."""
        plan = await self.planner.plan(request, request_id, headers or {}, use_models=use_models, workspace=workspace)
        if plan.start == 0:
            return self._decision(plan, 0)
        tiers = self._tiers_from(plan)
        for position, number in enumerate(tiers):
            status = await self.tiers[number].status()
            if status.available:
                return self._decision(plan, number, status.provider, status.model)
            next_tier = tiers[position + 1] if position + 1 < len(tiers) else None
            plan.escalations.append(Escalation(from_tier=number, to_tier=next_tier,
                                               reason=f"tier {number}: unavailable: {status.reason}",
                                               kind="unavailable"))
        raise self._failure(plan)

    async def complete(self, request: ChatCompletionRequest, request_id: str,
                       headers: Mapping[str, str] | None = None, *, workspace: Workspace | None = None) -> Completion:
        plan = await self.planner.plan(request, request_id, headers or {}, workspace=workspace)
        if plan.command is not None or plan.action is not None:
            return await self._run_command(plan)
        result = await self._walk(plan, request, self._whole_answer)
        assert isinstance(result, Completion)
        return result

    async def stream(self, request: ChatCompletionRequest, request_id: str,
                     headers: Mapping[str, str] | None = None, *,
                     workspace: Workspace | None = None) -> StreamingCompletion | Completion:
        """Escalation happens before the first delta only. Tier 2 must grade its whole answer
        before anything is sent, so its answer goes out as one delta."""
        plan = await self.planner.plan(request, request_id, headers or {}, workspace=workspace)
        if plan.command is not None or plan.action is not None:
            return await self._run_command(plan)
        result = await self._walk(plan, request, self._streamed_answer)
        return result if isinstance(result, StreamingCompletion) else _as_stream(result)

    async def _walk(self, plan: Plan, request: ChatCompletionRequest,
                    answer_at: _AnswerAt) -> Completion | StreamingCompletion:
        """Tiers in order until one answers; then Tier 2's kept answer or a lower-tier fallback; else the failure."""
        for number in self._tiers_from(plan):
            started = self._clock()
            try:
                result = await answer_at(plan, number, request)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, then escalated or raised
                self._escalate_or_raise(plan, number, exc)
                continue
            finally:
                _add_ms(plan, number, self._clock() - started)
            if result is not None:  # None: Tier 2 judged its own answer not good enough
                return _with_timings(plan, result)
        fallback = await self._fallback(plan, request)
        if fallback is not None:
            return _with_timings(plan, fallback)
        raise self._failure(plan)

    async def _whole_answer(self, plan: Plan, number: int, request: ChatCompletionRequest) -> Completion | None:
        answer = await self._answer(plan, number, request)
        return None if answer is None else self._completion(plan, number, answer)

    async def _streamed_answer(self, plan: Plan, number: int,
                               request: ChatCompletionRequest) -> Completion | StreamingCompletion | None:
        if number == 2 or self.second_opinion.applies(number, plan.high):  # judged whole before anything is sent
            return await self._whole_answer(plan, number, request)
        first, rest = await self._first_delta(plan, number, request)
        if first.skipped:
            plan.reasons.append(f"tier {number} passed over: " + "; ".join(first.skipped))
        return StreamingCompletion(self._decision(plan, number, first.provider, first.model), first, rest)

    def _completion(self, plan: Plan, number: int, answer: Generation) -> Completion:
        if answer.skipped:
            plan.reasons.append(f"tier {number} passed over: " + "; ".join(answer.skipped))
        decision = self._decision(plan, number, answer.provider, answer.model)
        if answer.cost_usd is not None:
            decision.cost_usd = str(answer.cost_usd)
        return Completion(decision, answer.text, answer.usage, answer.finish_reason, answer.model)

    async def _fallback(self, plan: Plan, request: ChatCompletionRequest) -> Completion | None:
        """When Tier 3 could not answer: Tier 2's answer if it has one; when Tier 3 refused for money
        or its daily cap, a fresh Tier 2 answer if the request allows Tier 2; else nothing."""
        if plan.escalated_light is not None:
            plan.reasons.append("tier 3 could not answer: kept tier 2's answer despite its self-assessment")
            return self._completion(plan, 2, plan.escalated_light)
        refusal = plan.lower_tier_fallback
        if refusal is None:
            return None
        if 2 in self.tiers and 2 not in plan.tried and plan.low <= 2:
            plan.reasons.append(f"tier 3 refused ({refusal.code}): fell back to tier 2")
            plan.escalations.append(Escalation(from_tier=3, to_tier=2, reason=f"fallback: {refusal.message}",
                                               kind="fallback"))
            started = self._clock()
            try:
                answer = await self._call(2, self._request_for(plan, 2, request))
            except Exception as exc:  # noqa: BLE001
                self._escalate_or_raise(plan, 2, exc)
                return None
            finally:
                _add_ms(plan, 2, self._clock() - started)
            text, _ = split_assessment(answer.text)
            return self._completion(plan, 2, answer.model_copy(update={"text": text}))
        if isinstance(refusal, BudgetExceeded):
            raise refusal
        return None

    # ---- the tiers ----------------------------------------------------------------------------------

    def _tiers_from(self, plan: Plan) -> list[int]:
        return [n for n in range(max(plan.start, 1), plan.high + 1) if n in self.tiers]

    def _request_for(self, plan: Plan, number: int, request: ChatCompletionRequest) -> GenerationRequest:
        limit = request.token_limit()
        agent = self.config.agents.get(plan.hints.agent_id or "")
        if agent is not None and number in agent.max_tokens:
            limit = min(limit or agent.max_tokens[number], agent.max_tokens[number])
        messages = request.plain_messages()
        if number == 2:
            messages = with_assessment_instruction(messages)
        return GenerationRequest(request_id=plan.request_id, messages=messages, max_tokens=limit,
                                 temperature=request.temperature, stop=request.stop_list(),
                                 workspace_id=plan.workspace_id)

    async def _call(self, number: int, request: GenerationRequest) -> Generation:
        tier = self.tiers[number]
        async with self.gates[number].slot():
            try:
                return await asyncio.wait_for(tier.generate(request), timeout=tier.timeout_s)
            except asyncio.TimeoutError:
                raise UpstreamTimeout(f"tier {number} timed out after {tier.timeout_s:g}s") from None

    async def _answer(self, plan: Plan, number: int, request: ChatCompletionRequest) -> Generation | None:
        if number == 2 and plan.high >= 3:
            reason = self._light_precheck(plan, request)
            if reason is not None:
                plan.escalations.append(Escalation(from_tier=2, to_tier=3, reason=f"tier 2 skipped: {reason}",
                                                   kind="precheck"))
                return None
        plan.tried.add(number)
        work = self._request_for(plan, number, request)
        if self.second_opinion.applies(number, plan.high):
            return self._judged(plan, number, await self.second_opinion.check(
                number, work, request.last_user_text(), plan.score))
        answer = await self._call(number, work)
        if number != 2:
            return answer
        text, assessment = split_assessment(answer.text)
        answer = answer.model_copy(update={"text": text})
        if assessment is not None:
            plan.self_quality = assessment.quality
        if plan.high < 3:
            return answer
        return self._self_judged(plan, answer, assessment)

    def _judged(self, plan: Plan, number: int, checked: Checked) -> Generation | None:
        """The escalation score decides; without a second opinion, Tier 2's self-assessment does."""
        verdict = checked.verdict
        if checked.assessment is not None:
            plan.self_quality = checked.assessment.quality
        if verdict is None:
            plan.reasons.append(f"tier {number}: {checked.problem}; decided on the single answer")
            if number == 1:
                return checked.answer
            return self._self_judged(plan, checked.answer, checked.assessment)
        plan.cascade = verdict.describe()
        c = verdict.comparison
        summary = (f"tier {number} {c.form} answer vs {verdict.source}: agreement {c.agreement:.2f}, "
                   f"escalation score {verdict.score:.3f}")
        if not verdict.escalate:
            plan.reasons.append(f"{summary} < {verdict.threshold}: answered")
            return checked.answer
        to_tier = number + 1
        plan.escalations.append(Escalation(from_tier=number, to_tier=to_tier,
                                           reason=f"tier {number}: {summary} >= {verdict.threshold}",
                                           kind="disagreement"))
        if number == 2:
            plan.escalated_light = checked.answer
        return None

    def _self_judged(self, plan: Plan, answer: Generation, assessment: Any) -> Generation | None:
        reason = self._light_verdict(assessment)
        if reason is None:
            plan.reasons.append(f"tier 2 self-assessed quality {assessment.quality:.2f}")  # type: ignore[union-attr]
            return answer
        plan.escalations.append(Escalation(from_tier=2, to_tier=3, reason=f"tier 2: {reason}",
                                           kind="self_assessment"))
        plan.escalated_light = answer
        return None

    def _light_precheck(self, plan: Plan, request: ChatCompletionRequest) -> str | None:
        """Reasons to skip Tier 2 for Tier 3, checked only when a request would try both."""
        limit = self.config.thresholds.light_context_tokens
        tokens = count_prompt_tokens(request.plain_messages())  # the ingress has no tokenizer: ~4 chars a token
        if tokens > limit:
            return f"the context (~{tokens} tokens) exceeds {limit} tokens"
        if is_multi_document_synthesis(request.last_user_text()):
            return "the request is a multi-document synthesis"
        if plan.hints.precision == "high":
            return "the caller asked for high precision"
        return None

    def _light_verdict(self, assessment: Any) -> str | None:
        t = self.config.thresholds
        if assessment is None:
            return "no usable self-assessment"
        if assessment.escalate:
            return "the model asked to escalate"
        if assessment.quality < t.quality:
            return f"self-assessed quality {assessment.quality:.2f} < {t.quality}"
        if assessment.reasoning_depth > t.max_reasoning_depth:
            return f"reasoning depth {assessment.reasoning_depth} > {t.max_reasoning_depth}"
        return None

    async def _first_delta(self, plan: Plan, number: int,
                           request: ChatCompletionRequest) -> tuple[StreamDelta, AsyncIterator[StreamDelta]]:
        plan.tried.add(number)
        tier = self.tiers[number]
        work = self._request_for(plan, number, request)
        slot = self.gates[number].slot()
        await slot.__aenter__()
        iterator: AsyncIterator[StreamDelta] | None = None  # closed and the slot freed whatever fails below
        try:
            iterator = tier.stream(work)
            first = await asyncio.wait_for(anext(iterator), timeout=tier.timeout_s)
        except BaseException as exc:
            await _close(iterator)
            await slot.__aexit__(None, None, None)
            if isinstance(exc, StopAsyncIteration):
                return StreamDelta(finish_reason="stop", usage=Usage()), _empty()
            if isinstance(exc, asyncio.TimeoutError):
                raise UpstreamTimeout(f"tier {number} sent nothing within {tier.timeout_s:g}s") from None
            raise

        async def rest() -> AsyncIterator[StreamDelta]:
            try:
                async for delta in iterator:
                    yield delta
            finally:
                await _close(iterator)
                await slot.__aexit__(None, None, None)

        return first, rest()

    async def _run_command(self, plan: Plan) -> Completion:
        match = plan.command or plan.action
        assert match is not None
        result = await self.commands.run(match)
        if plan.command is not None:
            plan.reasons = [f"matched command /{match.name}: answered without a model"]
            return Completion(self._decision(plan, 0), result.text, Usage(), "stop", "tier-0", command=result)
        plan.reasons.append(f"the classification named the action /{match.name}, which ran")
        return Completion(self._decision(plan, 1), result.text, Usage(), "stop", "tier-1-action", command=result)

    # ---- decisions and failures --------------------------------------------------------------------

    def _decision(self, plan: Plan, number: int, provider: str | None = None,
                  model: str | None = None) -> RoutingDecision:
        reasons = list(plan.reasons)
        if number > 0:
            reasons.append(f"answered at tier {number} ({TIER_NAMES[number]})")
        return RoutingDecision(
            request_id=plan.request_id, tier=number, tier_name=TIER_NAMES[number],
            routing_score=None if plan.score is None else round(plan.score, 4), provider=provider, model=model,
            command=(plan.command or plan.action).name if (plan.command or plan.action) else None,
            classifier=plan.classifier,
            classification=plan.classification.model_dump() if plan.classification else None,
            reasons=reasons, escalations=list(plan.escalations),
            escalation_score=None if plan.cascade is None else plan.cascade["escalation_score"],  # type: ignore[arg-type]
            cascade=plan.cascade,
            agent_id=plan.hints.agent_id,
            requested_tier=plan.hints.preferred_tier or plan.hints.min_tier,
            self_assessed_quality=plan.self_quality,
        )

    def _escalate_or_raise(self, plan: Plan, number: int, exc: BaseException) -> None:
        if isinstance(exc, RouterError) and exc.details.get("fallback") == "lower_tier":
            plan.lower_tier_fallback = exc  # over a budget cap or the daily cap: a lower tier may still answer
            plan.escalations.append(Escalation(from_tier=number, to_tier=None,
                                               reason=f"tier {number}: {exc.code}: {exc.message}",
                                               kind="refused"))
            return
        if isinstance(exc, ESCALATABLE_ERRORS):
            reason = f"{exc.code}: {exc.message}"
        elif isinstance(exc, RouterError):
            raise exc  # the caller's own fault (budget, bad request): another tier will not fix it
        elif isinstance(exc, Exception):
            log.exception("tier %s failed unexpectedly", number, exc_info=exc)
            reason = f"internal error: {type(exc).__name__}"
        else:
            raise exc
        later = [n for n in self._tiers_from(plan) if n > number]
        plan.escalations.append(Escalation(from_tier=number, to_tier=later[0] if later else None,
                                           reason=f"tier {number}: {reason}"))

    def _failure(self, plan: Plan) -> RoutingFailure:
        tried = self._tiers_from(plan)
        if not tried:
            return RoutingFailure("no model tier is configured for this request", details={"tried": []})
        reasons = "; ".join(e.reason for e in plan.escalations)
        return RoutingFailure(
            f"no tier could answer the request. Tried {', '.join(f'tier {n} ({TIER_NAMES[n]})' for n in tried)}: "
            f"{reasons}. Configure a reachable endpoint for one of them (tiers.micro.base_url or .model_path, "
            f"tiers.light.base_url or .model_path, or a provider under frontier.providers with its API key) and "
            f"check GET /healthz; `tiered-router serve --demo` runs the whole chain offline on a tiny checkpoint.",
            details={"tried": [e.model_dump() for e in plan.escalations]},
        )


def _add_ms(plan: Plan, number: int, seconds: float) -> None:
    plan.tier_ms[number] = plan.tier_ms.get(number, 0.0) + seconds * 1000.0


def _with_timings(plan: Plan, result: "Completion | StreamingCompletion") -> "Completion | StreamingCompletion":
    """The decision is made inside the answering tier's call; its time is known only once that call returns."""
    result.decision.tier_latency_ms = {n: round(ms, 3) for n, ms in plan.tier_ms.items()}
    return result


def _as_stream(completion: Completion) -> StreamingCompletion:
    first = StreamDelta(text=completion.text, usage=completion.usage, finish_reason=completion.finish_reason,
                        model=completion.model, provider=completion.decision.provider)
    return StreamingCompletion(completion.decision, first, _empty())


async def _empty() -> AsyncIterator[StreamDelta]:
    return
    yield  # pragma: no cover - makes this an async generator


async def _close(iterator: AsyncIterator[Any] | None) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing a failed stream must not mask its error
            pass

