"""Choosing frontier providers: requirements filter, each strategy orders, down or resting providers wait."""

from decimal import Decimal

import pytest

from router.core.config import (
    Capability,
    FrontierConfig,
    ProviderConfig,
    ProviderStrategy,
)
from router.frontier.availability import (
    AvailabilityTracker,
    CooldownTracker,
    ProviderHealth,
)
from router.frontier.pricing import PriceBook
from router.frontier.providers import (
    STRATEGIES,
    Requirements,
    select_providers,
    strategy_for,
)


def provider(name, quality, context, cost_in=None, cost_out=None, tags=(), caps=()):
    return ProviderConfig(name=name, model=name, base_url=f"http://{name}/v1", quality=quality, max_context=context,
                          cost_per_1k_input=cost_in, cost_per_1k_output=cost_out, tags=list(tags),
                          capabilities=list(caps))


POOL = FrontierConfig(providers=[
    provider("spark", 0.70, 8_192, tags=["dgx"], caps=["json_mode"]),
    provider("ollama", 0.50, 32_768, tags=["local"]),
    provider("cheap", 0.80, 128_000, 0.0005, 0.0015, tags=["cloud"], caps=["json_mode", "tools"]),
    provider("mid", 0.85, 64_000, 0.001, 0.004, tags=["cloud"], caps=["tools"]),
    provider("premium", 0.95, 200_000, 0.003, 0.015, tags=["cloud"], caps=["json_mode", "tools", "vision"]),
])
BOOK = PriceBook(POOL)


def choose(strategy, health=None, **requirements):
    return select_providers(POOL.providers, Requirements(**requirements), strategy_for(ProviderStrategy(strategy)),
                            price=BOOK.blended_per_1k,
                            unavailable=health.why_unavailable if health else lambda name: None)


@pytest.mark.parametrize("strategy,requirements,expected", [
    ("prefer_local", {}, ["spark", "ollama", "premium", "mid", "cheap"]),
    ("prefer_local", {"required_capabilities": {Capability.json_mode}}, ["spark", "premium", "cheap"]),
    ("cheapest_qualified", {}, ["spark", "ollama", "cheap", "mid", "premium"]),
    ("cheapest_qualified", {"min_quality": 0.8}, ["cheap", "mid", "premium"]),
    ("cheapest_qualified", {"min_quality": 0.8, "required_capabilities": {Capability.vision}}, ["premium"]),
    ("highest_quality", {}, ["premium", "mid", "cheap", "spark", "ollama"]),
    ("highest_quality", {"min_context": 100_000, "required_capabilities": {Capability.tools}}, ["premium", "cheap"]),
    ("highest_quality", {"max_cost_per_1k": Decimal("0.01")}, ["mid", "cheap", "spark", "ollama"]),
])
def test_each_strategy_chooses_from_a_known_pool(strategy, requirements, expected):
    assert choose(strategy, **requirements).names == expected


def test_every_strategy_is_registered_by_name():
    assert set(STRATEGIES) == set(ProviderStrategy)


def test_excluded_providers_say_why():
    excluded = choose("highest_quality", min_quality=0.8, min_context=100_000,
                      max_cost_per_1k=Decimal("0.01")).excluded
    assert excluded["premium"] == "costs $0.018 per 1k tokens, above the limit $0.01"
    assert excluded["mid"] == "context 64000 tokens below the required 100000"
    assert excluded["spark"] == "quality 0.7 below the required 0.8"


def test_preferred_providers_then_tags_come_first_keeping_the_strategy_order_otherwise():
    chosen = choose("cheapest_qualified", preferred_providers=("premium",), preferred_tags=frozenset({"cloud"}))
    assert chosen.names == ["premium", "cheap", "mid", "spark", "ollama"]


def test_cheapest_qualified_uses_the_genai_prices_price_of_known_models():
    pool = FrontierConfig(providers=[
        ProviderConfig(name="big", engine="openai", model="gpt-4o", quality=0.9, max_context=128_000),
        ProviderConfig(name="small", engine="openai", model="gpt-4o-mini", quality=0.8, max_context=128_000),
    ])
    book = PriceBook(pool)
    chosen = select_providers(pool.providers, Requirements(), strategy_for(ProviderStrategy.cheapest_qualified),
                              price=book.blended_per_1k)
    assert chosen.names == ["small", "big"]


def test_a_provider_marked_down_is_skipped_and_comes_back_when_a_check_succeeds():
    health = ProviderHealth(CooldownTracker(), AvailabilityTracker())
    health.availability.mark_down("spark", "connection refused")
    chosen = choose("prefer_local", health)
    assert chosen.names[0] == "ollama"
    assert chosen.excluded["spark"] == "down: connection refused"
    health.availability.record_check("spark", ok=False, reason="still refused")
    assert "spark" not in choose("prefer_local", health).names
    health.availability.record_check("spark", ok=True)
    assert choose("prefer_local", health).names[0] == "spark"


def test_a_rate_limited_provider_rests_for_retry_after_or_the_configured_cool_down():
    now = [0.0]
    health = ProviderHealth(CooldownTracker(default_s=30.0, clock=lambda: now[0]), AvailabilityTracker())
    assert health.cooldowns.rest("premium", retry_after=12.0) == 12.0
    health.cooldowns.rest("mid")  # no Retry-After: the configured 30 s
    assert choose("highest_quality", health).names[0] == "cheap"
    assert "cooling down" in choose("highest_quality", health).excluded["premium"]
    now[0] = 12.0
    assert choose("highest_quality", health).names[:2] == ["premium", "cheap"]
    now[0] = 30.0
    assert choose("highest_quality", health).names[:2] == ["premium", "mid"]
    assert CooldownTracker(max_s=60.0).rest("x", retry_after=86_400) == 60.0  # a bogus Retry-After is bounded


def test_the_original_order_call_still_works_with_config_prices():
    assert [p.name for p in strategy_for(ProviderStrategy.cheapest_qualified).order(POOL.providers)][:3] == [
        "spark", "ollama", "cheap"]
