"""Ordering the frontier pool.

A request's ``Requirements`` first filter the pool (each provider left out gets a reason);
a strategy, a named class with one method registered by name, orders the rest; providers the
request or workspace prefers then move to the front, keeping the strategy's order among them.
Strategies compare cost through a price function (``PriceBook.blended_per_1k``) so the
ordering agrees with what the call will be billed; without one they read the config's prices.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from router.core.config import Capability, ProviderConfig, ProviderStrategy

LOCAL_TAGS = frozenset({"local", "dgx"})

PricePer1k = Callable[[ProviderConfig], Decimal]


def config_price_per_1k(p: ProviderConfig) -> Decimal:
    """Input plus output USD per 1,000 tokens as configured; unset prices count as 0."""
    return Decimal(str(p.cost_per_1k_input or 0.0)) + Decimal(str(p.cost_per_1k_output or 0.0))


class Strategy(ABC):
    name: ClassVar[ProviderStrategy]

    @abstractmethod
    def order(self, providers: list[ProviderConfig], price: PricePer1k = config_price_per_1k) -> list[ProviderConfig]:
        """Providers in the order they should be tried."""


def is_local(p: ProviderConfig) -> bool:
    return bool(LOCAL_TAGS & set(p.tags))


class PreferLocal(Strategy):
    """DGX Spark and local servers first (no per-token bill, data stays home), then by quality."""

    name = ProviderStrategy.prefer_local

    def order(self, providers: list[ProviderConfig], price: PricePer1k = config_price_per_1k) -> list[ProviderConfig]:
        return sorted(providers, key=lambda p: (not is_local(p), -p.quality, price(p)))


class CheapestQualified(Strategy):
    """The cheapest provider that meets the requirements (the filter has already qualified them)."""

    name = ProviderStrategy.cheapest_qualified

    def order(self, providers: list[ProviderConfig], price: PricePer1k = config_price_per_1k) -> list[ProviderConfig]:
        return sorted(providers, key=lambda p: (price(p), -p.quality))


class HighestQuality(Strategy):
    name = ProviderStrategy.highest_quality

    def order(self, providers: list[ProviderConfig], price: PricePer1k = config_price_per_1k) -> list[ProviderConfig]:
        return sorted(providers, key=lambda p: (-p.quality, price(p)))


STRATEGIES: dict[ProviderStrategy, type[Strategy]] = {s.name: s for s in (PreferLocal, CheapestQualified, HighestQuality)}


def strategy_for(name: ProviderStrategy) -> Strategy:
    return STRATEGIES[name]()


class Requirements(BaseModel):
    """What one request needs from a frontier provider."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_quality: float = Field(default=0.0, ge=0.0, le=1.0)
    max_cost_per_1k: Decimal | None = Field(default=None, ge=0, description="input + output USD per 1,000 tokens")
    min_context: int = Field(default=0, ge=0, description="prompt plus completion tokens the model must hold")
    required_capabilities: frozenset[Capability] = frozenset()
    preferred_tags: frozenset[str] = frozenset()
    preferred_providers: tuple[str, ...] = Field(default=(), description="names tried first, in this order")


@dataclass
class Selection:
    """The providers to try, in order, and why each other one was left out."""

    ordered: list[ProviderConfig]
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.ordered]


def unmet(p: ProviderConfig, req: Requirements, price: PricePer1k) -> str | None:
    """Why the provider does not meet the requirements, or None when it does."""
    if p.quality < req.min_quality:
        return f"quality {p.quality:g} below the required {req.min_quality:g}"
    if p.max_context < req.min_context:
        return f"context {p.max_context} tokens below the required {req.min_context}"
    missing = req.required_capabilities - set(p.capabilities)
    if missing:
        return "lacks " + ", ".join(sorted(c.value for c in missing))
    if req.max_cost_per_1k is not None:
        cost = price(p)
        if cost > req.max_cost_per_1k:
            return f"costs ${cost} per 1k tokens, above the limit ${req.max_cost_per_1k}"
    return None


def select_providers(
    providers: Iterable[ProviderConfig],
    requirements: Requirements,
    strategy: Strategy,
    *,
    price: PricePer1k = config_price_per_1k,
    unavailable: Callable[[str], str | None] = lambda name: None,
) -> Selection:
    """Filter by requirements and availability, order by strategy, then move preferred ones first.

    ``unavailable(name)`` says why a provider cannot be tried now (down, cooling down after a
    429), or None; see ``router.frontier.availability.ProviderHealth.why_unavailable``.
    """
    excluded: dict[str, str] = {}
    qualified = []
    for p in providers:
        reason = unmet(p, requirements, price) or unavailable(p.name)
        if reason:
            excluded[p.name] = reason
        else:
            qualified.append(p)
    ordered = strategy.order(qualified, price)
    preferred_rank = {name: i for i, name in enumerate(requirements.preferred_providers)}

    def preference(p: ProviderConfig) -> tuple[int, int]:
        # sorted() is stable: within each preference group the strategy's order stands.
        rank = preferred_rank.get(p.name, len(preferred_rank))
        return rank, 0 if requirements.preferred_tags & set(p.tags) else 1

    return Selection(sorted(ordered, key=preference), excluded)
