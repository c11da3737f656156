"""Ordering the frontier pool: a strategy is a named class with one method, registered by name."""

from abc import ABC, abstractmethod
from typing import ClassVar

from router.config import ProviderConfig, ProviderStrategy

LOCAL_TAGS = frozenset({"local", "dgx"})


class Strategy(ABC):
    name: ClassVar[ProviderStrategy]

    @abstractmethod
    def order(self, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        """Providers in the order they should be tried."""


def _blended_cost(p: ProviderConfig) -> float:
    return p.cost_per_1k_input + p.cost_per_1k_output


class PreferLocal(Strategy):
    """DGX Spark and local servers first (no per-token bill, data stays home), then by quality."""

    name = ProviderStrategy.prefer_local

    def order(self, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        return sorted(providers, key=lambda p: (not (LOCAL_TAGS & set(p.tags)), -p.quality, _blended_cost(p)))


class CheapestQualified(Strategy):
    name = ProviderStrategy.cheapest_qualified

    def order(self, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        return sorted(providers, key=lambda p: (_blended_cost(p), -p.quality))


class HighestQuality(Strategy):
    name = ProviderStrategy.highest_quality

    def order(self, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        return sorted(providers, key=lambda p: (-p.quality, _blended_cost(p)))


STRATEGIES: dict[ProviderStrategy, type[Strategy]] = {s.name: s for s in (PreferLocal, CheapestQualified, HighestQuality)}


def strategy_for(name: ProviderStrategy) -> Strategy:
    return STRATEGIES[name]()
