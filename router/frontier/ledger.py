"""One frontier request's way through the ledger, in the order the pool must take it.

    plan = ledger.plan(workspace, messages, max_tokens=..., requirements=...)   # no I/O
    for candidate in plan.candidates:
        admitted = await ledger.admit(workspace, request_id, candidate)      # key, reserve, cap
        if isinstance(admitted, Refusal): note admitted.reason; continue (or stop on "lower_tier")
        try: generation = await engine.generate(request, api_key=admitted.credential.reveal(), ...)
        except RouterError as exc: await ledger.fail(admitted, exc); continue
        cost = await ledger.succeed(admitted, generation.usage)
        break
    else: raise ledger.exhausted(plan, refusals)                              # 402 or 503, and why

Everything here composes the smaller modules (providers, pricing, keys, budgets, caps,
availability); it holds no state of its own beyond what they hold.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from router.core.config import FrontierConfig, ProviderConfig
from router.core.errors import (
    BudgetExceeded,
    PermissionDenied,
    RateLimited,
    RouterError,
    TierUnavailable,
)
from router.core.generation import Message, count_prompt_tokens
from router.frontier.availability import (
    AvailabilityTracker,
    CooldownTracker,
    ProviderHealth,
)
from router.frontier.budgets import (
    BudgetLedger,
    Reservation,
    request_cap_error,
    within_request_cap,
)
from router.frontier.caps import CapDecision, DailyCaps
from router.frontier.keys import ProviderCredential, ProviderKeyStore
from router.frontier.pricing import (
    Cost,
    CostEstimate,
    PrefixCache,
    PriceBook,
    max_prompt_tokens,
    prompt_text,
)
from router.frontier.providers import Requirements, select_providers, strategy_for
from router.storage.database import Clock, Database, utc_now
from router.storage.workspaces import Workspace


@dataclass(frozen=True)
class Candidate:
    provider: ProviderConfig
    estimate: CostEstimate


@dataclass
class FrontierPlan:
    candidates: list[Candidate]
    excluded: dict[str, str]
    prompt: str = field(repr=False)


@dataclass
class Admitted:
    workspace: Workspace
    candidate: Candidate
    reservation: Reservation
    cap: CapDecision
    credential: ProviderCredential
    prompt: str = field(repr=False)


@dataclass(frozen=True)
class Refusal:
    provider: str
    reason: str
    fallback: Literal["next_provider", "lower_tier"]
    error: RouterError | None = None


class FrontierLedger:
    def __init__(self, frontier: FrontierConfig, db: Database, keys: ProviderKeyStore, *,
                 prices: PriceBook | None = None, health: ProviderHealth | None = None,
                 prefixes: PrefixCache | None = None, clock: Clock = utc_now) -> None:
        self.frontier = frontier
        self.prices = prices or PriceBook(frontier, clock=clock)
        self.health = health or ProviderHealth(CooldownTracker(frontier.cooldown_s), AvailabilityTracker())
        self.prefixes = prefixes or PrefixCache()
        self.keys = keys
        self.budgets = BudgetLedger(db, clock)
        self.caps = DailyCaps(db, clock)

    def plan(self, workspace: Workspace, messages: Sequence[Message], *, max_tokens: int,
             requirements: Requirements = Requirements(), min_completion_tokens: int = 1) -> FrontierPlan:
        """Providers to try in order, each with its estimate; those over the per-request cap are left out.

        Each provider's completion budget is ``max_tokens`` clipped to what its context leaves after
        the prompt; only ``min_completion_tokens`` (what the caller explicitly asked for) must fit. The
        engine must be called with ``candidate.estimate.max_completion_tokens``: that is what is reserved.

        Raises ``BudgetExceeded`` (402, ``details.fallback == "lower_tier"``) when every
        qualified provider is over the cap: the caller may answer from a lower tier instead.
        """
        preferred = (*requirements.preferred_providers, *workspace.settings.preferred_providers)
        prompt_tokens = count_prompt_tokens(messages)
        requirements = requirements.model_copy(update={
            "preferred_providers": tuple(dict.fromkeys(preferred)),
            "min_context": max(requirements.min_context, prompt_tokens + min_completion_tokens)})
        selection = select_providers(self.frontier.providers, requirements, strategy_for(self.frontier.strategy),
                                     price=self.prices.blended_per_1k, unavailable=self.health.why_unavailable)
        prompt = prompt_text(messages)
        ceiling = max_prompt_tokens(messages)
        estimates = [self.prices.estimate(p.name, prompt_tokens=prompt_tokens,
                                          max_completion_tokens=max(1, min(max_tokens, p.max_context - prompt_tokens)),
                                          outlook=self.prefixes.outlook(workspace.id, p.name, prompt, prompt_tokens),
                                          prompt_tokens_ceiling=ceiling)
                     for p in selection.ordered]
        affordable = within_request_cap(workspace.settings, estimates)
        excluded = dict(selection.excluded)
        for e in estimates:
            if e not in affordable:
                excluded[e.provider] = f"could cost up to ${e.max_cost_usd}, over max_cost_per_request_usd"
        if estimates and not affordable:
            error = request_cap_error(workspace.settings, min(e.max_cost_usd for e in estimates))
            error.details["fallback"] = "lower_tier"
            raise error
        by_name = {p.name: p for p in selection.ordered}
        return FrontierPlan([Candidate(by_name[e.provider], e) for e in affordable], excluded, prompt)

    async def admit(self, workspace: Workspace, request_id: str, candidate: Candidate,
                    prompt: str = "") -> Admitted | Refusal:
        """Key, then budget reservation, then a daily-cap slot; undone in reverse if a later step says no."""
        name = candidate.provider.name
        try:
            credential = await self.keys.acredential(workspace, candidate.provider)
        except PermissionDenied as exc:
            return Refusal(name, exc.message, "next_provider", exc)
        try:
            reservation = await self.budgets.areserve(workspace, request_id, name, candidate.estimate.max_cost_usd)
        except BudgetExceeded as exc:
            return Refusal(name, exc.message, "next_provider", exc)  # a cheaper provider may still fit
        cap = await self.caps.atake_for(candidate.provider, self.frontier)
        if not cap.allowed:
            await self.budgets.arelease(reservation.id, cap.reason)
            return Refusal(name, cap.reason, cap.fallback or "next_provider")
        return Admitted(workspace, candidate, reservation, cap, credential, prompt)

    async def succeed(self, admitted: Admitted, usage: object) -> Cost:
        """Settle the reservation with the real cost; remember the prompt prefix for cache estimates."""
        cost = self.prices.cost(admitted.candidate.provider.name, usage)
        await self.budgets.asettle(admitted.reservation.id, cost.total_usd)
        if admitted.prompt:
            self.prefixes.remember(admitted.workspace.id, admitted.candidate.provider.name, admitted.prompt)
        return cost

    async def fail(self, admitted: Admitted, error: BaseException) -> None:
        """Release the reservation and the cap slot; rest a rate-limited provider, mark a dead one down."""
        name = admitted.candidate.provider.name
        message = error.message if isinstance(error, RouterError) else type(error).__name__
        await self.budgets.arelease(admitted.reservation.id, message)
        await self.caps.agive_back(admitted.cap)
        if isinstance(error, RateLimited):
            self.health.cooldowns.rest(name, error.retry_after)
        elif isinstance(error, TierUnavailable):
            self.health.availability.mark_down(name, message)

    @staticmethod
    def exhausted(plan: FrontierPlan, refusals: Sequence[Refusal], failures: Sequence[str] = ()) -> RouterError:
        """The error when no provider answered: 402 if money was the only obstacle, else 503 with every reason."""
        reasons = [f"{name}: {why}" for name, why in plan.excluded.items()]
        reasons += [f"{r.provider}: {r.reason}" for r in refusals] + list(failures)
        budget = [r.error for r in refusals if isinstance(r.error, BudgetExceeded)]
        if budget and len(budget) == len(refusals) and not failures:
            cheapest: Decimal = min(Decimal(e.details.get("requested_usd", "0")) for e in budget)
            first = budget[0]
            return BudgetExceeded(first.message, details={**first.details, "cheapest_requested_usd": str(cheapest)})
        lower = any(r.fallback == "lower_tier" for r in refusals)
        return TierUnavailable("no frontier provider could take this request: " + "; ".join(reasons),
                               code="daily_cap_reached" if lower else "providers_exhausted",
                               details={"reasons": reasons, "fallback": "lower_tier" if lower else None})
