"""The escalation chain: Tier 0 commands, then Tiers 1 -> 2 -> 3 until one answers.

Tiers are handed in as ``TierEndpoint`` objects holding plain async callables; the ingress
deployment builds them over deployment handles, tests build them over functions. So the
whole chain runs without Ray.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from router.api import ChatCompletionRequest, Escalation, RoutingDecision
from router.commands import CommandExecutor, CommandResult
from router.config import RouterConfig
from router.errors import InvalidRequest, RateLimited, RouterError, RoutingFailure, TierUnavailable, UpstreamError
from router.generation import Generation, GenerationRequest, StreamDelta, Usage

log = logging.getLogger(__name__)

TIER_NAMES = {0: "command", 1: "micro", 2: "light", 3: "frontier"}

# Aliases a caller may put in ``model``: "router" lets the router choose; "tier-N" pins a tier.
MODEL_TIER_BOUNDS: dict[str, tuple[int, int]] = {
    "router": (1, 3),
    "auto": (1, 3),
    "tier-1": (1, 1),
    "tier-2": (2, 2),
    "tier-3": (3, 3),
}

# Errors after which the next tier may still succeed.
_ESCALATABLE = (TierUnavailable, UpstreamError, RateLimited, asyncio.TimeoutError)


@dataclass(frozen=True)
class TierStatus:
    available: bool
    reason: str = ""
    provider: str | None = None
    model: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TierEndpoint:
    number: int
    generate: Callable[[GenerationRequest], Awaitable[Generation]]
    stream: Callable[[GenerationRequest], AsyncIterator[StreamDelta]]
    status: Callable[[], Awaitable[TierStatus]]
    timeout_s: float

    @property
    def name(self) -> str:
        return TIER_NAMES[self.number]


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


def tier_bounds(request: ChatCompletionRequest) -> tuple[int, int]:
    """The lowest and highest tier this request may use, from its model alias and hints."""
    if request.model not in MODEL_TIER_BOUNDS:
        raise_unknown_model(request.model)
    low, high = MODEL_TIER_BOUNDS[request.model]
    hints = request.router
    if hints is not None:
        low = max(low, hints.min_tier or low)
        high = min(high, hints.max_tier or high)
    if low > high:
        raise InvalidRequest(
            f"no tier satisfies model {request.model!r} with router hints min_tier={hints and hints.min_tier} "
            f"max_tier={hints and hints.max_tier}",
            param="router",
        )
    return low, high


def raise_unknown_model(model: str) -> None:
    from router.errors import NotFound

    raise NotFound(
        f"the model {model!r} does not exist; use one of: {', '.join(MODEL_TIER_BOUNDS)}",
        code="model_not_found",
        param="model",
    )


class Dispatcher:
    def __init__(self, config: RouterConfig, commands: CommandExecutor, tiers: dict[int, TierEndpoint]) -> None:
        self.config = config
        self.commands = commands
        self.tiers = tiers

    def _plan(self, request: ChatCompletionRequest) -> list[int]:
        low, high = tier_bounds(request)
        return [n for n in (1, 2, 3) if low <= n <= high and n in self.tiers]

    def _generation_request(self, request: ChatCompletionRequest, request_id: str) -> GenerationRequest:
        return GenerationRequest(
            request_id=request_id,
            messages=request.plain_messages(),
            max_tokens=request.token_limit(),
            temperature=request.temperature,
            stop=request.stop_list(),
        )

    async def route(self, request: ChatCompletionRequest, request_id: str) -> RoutingDecision:
        """The decision alone: which tier (and provider) would answer; nothing is generated."""
        match = self.commands.match(request.last_user_text())
        if match is not None:
            return RoutingDecision(
                request_id=request_id, tier=0, tier_name="command", command=match.name,
                reasons=[f"matched command /{match.name}"],
            )
        plan = self._plan(request)
        reasons: list[str] = []
        escalations: list[Escalation] = []
        for position, number in enumerate(plan):
            status = await self.tiers[number].status()
            if status.available:
                reasons.append(f"tier {number} ({TIER_NAMES[number]}) is the lowest available tier the request allows")
                return RoutingDecision(
                    request_id=request_id, tier=number, tier_name=TIER_NAMES[number],
                    provider=status.provider, model=status.model, reasons=reasons, escalations=escalations,
                )
            next_tier = plan[position + 1] if position + 1 < len(plan) else None
            escalations.append(Escalation(from_tier=number, to_tier=next_tier, reason=f"unavailable: {status.reason}"))
        raise self._failure(plan, escalations)

    async def complete(self, request: ChatCompletionRequest, request_id: str) -> Completion:
        match = self.commands.match(request.last_user_text())
        if match is not None:
            result = await self.commands.run(match)
            decision = RoutingDecision(
                request_id=request_id, tier=0, tier_name="command", command=match.name,
                reasons=[f"matched command /{match.name}: answered without a model"],
            )
            return Completion(decision, result.text, Usage(), "stop", "tier-0", command=result)

        plan = self._plan(request)
        generation_request = self._generation_request(request, request_id)
        escalations: list[Escalation] = []
        for position, number in enumerate(plan):
            tier = self.tiers[number]
            started = time.perf_counter()
            try:
                answer = await asyncio.wait_for(tier.generate(generation_request), timeout=tier.timeout_s)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, then escalated or raised
                self._escalate_or_raise(exc, plan, position, escalations, time.perf_counter() - started)
                continue
            decision = self._decision(request_id, number, answer.provider, answer.model, escalations)
            return Completion(decision, answer.text, answer.usage, answer.finish_reason, answer.model)
        raise self._failure(plan, escalations)

    async def stream(self, request: ChatCompletionRequest, request_id: str) -> StreamingCompletion | Completion:
        """Escalation happens only before the first delta; after it the tier is committed."""
        match = self.commands.match(request.last_user_text())
        if match is not None:
            return await self.complete(request, request_id)
        plan = self._plan(request)
        generation_request = self._generation_request(request, request_id)
        escalations: list[Escalation] = []
        for position, number in enumerate(plan):
            tier = self.tiers[number]
            started = time.perf_counter()
            iterator = tier.stream(generation_request)
            try:
                first = await asyncio.wait_for(anext(iterator), timeout=tier.timeout_s)
            except StopAsyncIteration:
                first = StreamDelta(finish_reason="stop", usage=Usage())
            except Exception as exc:  # noqa: BLE001
                await _close(iterator)
                self._escalate_or_raise(exc, plan, position, escalations, time.perf_counter() - started)
                continue
            decision = self._decision(request_id, number, first.provider, first.model, escalations)
            return StreamingCompletion(decision, first, iterator)
        raise self._failure(plan, escalations)

    def _decision(
        self, request_id: str, number: int, provider: str | None, model: str | None, escalations: list[Escalation]
    ) -> RoutingDecision:
        reasons = [f"answered at tier {number} ({TIER_NAMES[number]})"]
        if escalations:
            reasons.insert(0, f"escalated {len(escalations)} time(s): " + "; ".join(e.reason for e in escalations))
        return RoutingDecision(
            request_id=request_id, tier=number, tier_name=TIER_NAMES[number],
            provider=provider, model=model, reasons=reasons, escalations=list(escalations),
        )

    def _escalate_or_raise(
        self, exc: BaseException, plan: list[int], position: int, escalations: list[Escalation], elapsed: float
    ) -> None:
        number = plan[position]
        if isinstance(exc, asyncio.TimeoutError):
            reason = f"timed out after {self.tiers[number].timeout_s:g}s"
        elif isinstance(exc, _ESCALATABLE):
            reason = f"{getattr(exc, 'code', 'error')}: {getattr(exc, 'message', str(exc))}"
        elif isinstance(exc, RouterError):
            raise exc  # the caller's own fault (budget, bad request): another tier will not fix it
        else:
            log.exception("tier %s failed unexpectedly after %.3fs", number, elapsed, exc_info=exc)
            reason = f"internal error: {type(exc).__name__}"
        next_tier = plan[position + 1] if position + 1 < len(plan) else None
        escalations.append(Escalation(from_tier=number, to_tier=next_tier, reason=f"tier {number}: {reason}"))

    def _failure(self, plan: list[int], escalations: list[Escalation]) -> RoutingFailure:
        if not plan:
            return RoutingFailure("no model tier is configured for this request", details={"tried": []})
        tried = "; ".join(e.reason for e in escalations)
        return RoutingFailure(
            f"no tier could answer the request. Tried {', '.join(f'tier {n} ({TIER_NAMES[n]})' for n in plan)}: "
            f"{tried}. Configure a reachable endpoint for one of them (tiers.micro.base_url, tiers.light.base_url, "
            f"or a provider under frontier.providers) and check GET /healthz.",
            details={"tried": [e.model_dump() for e in escalations]},
        )


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing a failed stream must not mask its error
            pass
