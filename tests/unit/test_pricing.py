"""Pricing: real costs equal genai-prices for known models; overrides and local prices; estimates."""

from decimal import Decimal

import genai_prices
import pytest

from router.core.config import ConfigInvalid, FrontierConfig
from router.core.generation import Message, Usage, count_prompt_tokens
from router.frontier.pricing import (
    CacheOutlook,
    PrefixCache,
    PriceBook,
    prompt_text,
)

FRONTIER = FrontierConfig(
    local_cost_per_1k_tokens=0.0002,
    providers=[
        {"name": "gpt", "engine": "openai", "model": "gpt-4o", "quality": 0.9, "max_context": 128000},
        {"name": "claude", "engine": "anthropic", "model": "claude-sonnet-4-5", "quality": 0.95,
         "max_context": 200000},
        {"name": "spark", "model": "llama3.3:70b", "base_url": "http://spark/v1", "quality": 0.7,
         "max_context": 8192, "tags": ["dgx"]},
        {"name": "custom", "model": "gpt-4o", "base_url": "http://proxy/v1", "quality": 0.8, "max_context": 8192,
         "cost_per_1k_input": 0.002, "cost_per_1k_output": 0.008, "cost_per_1k_cache_read": 0.0005},
    ],
)


def genai(model, provider_id, **usage):
    return genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider_id).total_price


@pytest.mark.parametrize("name,model,provider_id", [("gpt", "gpt-4o", "openai"),
                                                     ("claude", "claude-sonnet-4-5", "anthropic")])
def test_costs_equal_genai_prices_with_and_without_cached_tokens(name, model, provider_id):
    book = PriceBook(FRONTIER)
    plain = book.cost(name, Usage(prompt_tokens=12_000, completion_tokens=800))
    assert plain.total_usd == genai(model, provider_id, input_tokens=12_000, output_tokens=800)
    cached = book.cost(name, Usage(prompt_tokens=12_000, completion_tokens=800, cached_prompt_tokens=10_000))
    assert cached.total_usd == genai(model, provider_id, input_tokens=12_000, cache_read_tokens=10_000,
                                     output_tokens=800)
    assert cached.total_usd < plain.total_usd
    assert cached.input_usd + cached.output_usd == cached.total_usd


def test_cache_writes_are_priced_at_the_cache_write_price_when_usage_reports_them():
    class UsageWithWrites(Usage):  # the field engines add; an older Usage without it counts zero writes
        cache_write_tokens: int = 0

    book = PriceBook(FRONTIER)
    usage = UsageWithWrites(prompt_tokens=5_000, completion_tokens=100, cached_prompt_tokens=1_000,
                            cache_write_tokens=3_000)
    cost = book.cost("claude", usage)
    assert cost.cache_write_tokens == 3_000
    assert cost.total_usd == genai("claude-sonnet-4-5", "anthropic", input_tokens=5_000, cache_read_tokens=1_000,
                                   cache_write_tokens=3_000, output_tokens=100)


def test_config_prices_override_genai_prices_and_local_providers_cost_their_amortised_price():
    book = PriceBook(FRONTIER)
    custom = book.cost("custom", Usage(prompt_tokens=2_000, completion_tokens=500, cached_prompt_tokens=1_000))
    assert custom.source == "config"
    assert custom.total_usd == Decimal("0.002") + Decimal("0.0005") + Decimal("0.004")
    local = book.cost("spark", Usage(prompt_tokens=3_000, completion_tokens=2_000))
    assert (local.source, local.total_usd) == ("local", Decimal("0.0010"))


def test_an_unpriced_model_fails_at_start_up_naming_the_provider():
    frontier = FrontierConfig(providers=[{"name": "mystery", "model": "no-such-model-xyz", "base_url": "http://m/v1",
                                          "quality": 0.5, "max_context": 4096}])
    with pytest.raises(ConfigInvalid, match="'mystery'.*cost_per_1k_input"):
        PriceBook(frontier)


def test_estimate_gives_full_effective_and_discount_and_reserves_the_maximum():
    book = PriceBook(FRONTIER)
    cold = book.estimate("gpt", prompt_tokens=4_000, max_completion_tokens=1_000)
    assert cold.full_cost_usd == cold.effective_cost_usd == cold.max_cost_usd
    assert cold.full_cost_usd == genai("gpt-4o", "openai", input_tokens=4_000, output_tokens=1_000)
    warm = book.estimate("gpt", prompt_tokens=4_000, max_completion_tokens=1_000,
                         outlook=CacheOutlook(matched_tokens=3_072, probability=1.0))
    assert warm.expected_cached_tokens == 3_072
    assert warm.effective_cost_usd == genai("gpt-4o", "openai", input_tokens=4_000, cache_read_tokens=3_072,
                                            output_tokens=1_000)
    assert warm.cache_discount_usd == warm.full_cost_usd - warm.effective_cost_usd > 0
    # Anthropic bills cache writes above the input price: the reservation covers that case.
    claude = book.estimate("claude", prompt_tokens=4_000, max_completion_tokens=1_000)
    assert claude.max_cost_usd > claude.full_cost_usd


def test_prompt_tokens_from_a_tokenizer_else_about_four_characters_each():
    messages = [Message(role="system", content="x" * 40), Message(role="user", content="y" * 400)]
    assert count_prompt_tokens("z" * 401) == 101
    assert count_prompt_tokens(messages) == 10 + 100 + 2 * 4 + 2
    assert count_prompt_tokens(messages, tokenizer=lambda text: 1) == 1 + 1 + 2 * 4 + 2


def test_prefix_cache_expects_hits_on_a_recently_sent_prefix_per_workspace_and_provider():
    now = [1000.0]
    cache = PrefixCache(block_tokens=10, ttl_s=100.0, clock=lambda: now[0])
    system = Message(role="system", content="s" * 200)
    first = prompt_text([system, Message(role="user", content="first question")])
    second = prompt_text([system, Message(role="user", content="a different question")])
    assert cache.outlook("ws", "gpt", second, 60).matched_tokens == 0
    cache.remember("ws", "gpt", first)
    outlook = cache.outlook("ws", "gpt", second, 60)
    assert outlook.matched_tokens == 50 and outlook.probability == 1.0  # five whole 40-char blocks shared
    assert cache.outlook("other-ws", "gpt", second, 60).matched_tokens == 0
    assert cache.outlook("ws", "claude", second, 60).matched_tokens == 0
    now[0] += 75
    assert cache.outlook("ws", "gpt", second, 60).probability == pytest.approx(0.25)
    now[0] += 25
    assert cache.outlook("ws", "gpt", second, 60).matched_tokens == 0  # the provider has evicted it by now
