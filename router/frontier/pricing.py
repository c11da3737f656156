"""What a frontier call will cost before it is made, and what it did cost after.

Where a provider's price comes from, first match wins:
1. ``cost_per_1k_input``/``cost_per_1k_output`` (and optional cache prices) in its config;
2. providers tagged ``local``/``dgx``: ``frontier.local_cost_per_1k_tokens``, the hardware's
   amortised cost, the same for every token;
3. ``genai-prices`` for the model (tiered prices, cache reads and writes included); a model it
   does not know fails at start-up, naming the provider, instead of being billed as free.

Token conventions follow ``router.core.generation.Usage``: ``prompt_tokens`` counts every prompt
token, ``cached_prompt_tokens`` and ``cache_write_tokens`` are parts of it. An older ``Usage``
without ``cache_write_tokens`` is read as zero.
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import genai_prices
from pydantic import BaseModel

from models.kinds import ENGINE_KINDS
from router.core.config import ConfigInvalid, FrontierConfig, ProviderConfig
from router.core.generation import (
    CHARS_PER_TOKEN,
    MESSAGE_OVERHEAD_TOKENS,
    Message,
)
from router.frontier.providers import is_local
from router.storage.database import Clock, utc_now

PriceSource = Literal["config", "local", "genai-prices"]


class Cost(BaseModel):
    """The real cost of one call."""

    provider: str
    source: PriceSource
    prompt_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    completion_tokens: int
    input_usd: Decimal
    output_usd: Decimal
    total_usd: Decimal


class CostEstimate(BaseModel):
    """The expected cost of a call before it is made.

    ``full_cost_usd`` assumes no cache hit; ``effective_cost_usd`` expects the cache hits the
    workspace's recent prompts suggest; ``cache_discount_usd`` is the difference.
    ``max_cost_usd`` is the most the call can cost (every completion token used, every prompt
    token written to a cache where that costs more): the amount a budget reserves.
    """

    provider: str
    source: PriceSource
    prompt_tokens: int
    max_completion_tokens: int
    expected_cached_tokens: int
    cache_hit_probability: float
    full_cost_usd: Decimal
    effective_cost_usd: Decimal
    cache_discount_usd: Decimal
    max_cost_usd: Decimal


def _dec(value: float) -> Decimal:
    return Decimal(str(value))  # str(): 0.0025 stays 0.0025, not its binary neighbour


@dataclass(frozen=True)
class ProviderPrice:
    provider: str
    source: PriceSource
    model_ref: str
    genai_provider_id: str | None
    per_1k: tuple[Decimal, Decimal, Decimal, Decimal] | None  # input, output, cache read, cache write (config/local)
    clock: Clock

    def cost(self, prompt: int, completion: int, cached: int = 0, cache_write: int = 0) -> tuple[Decimal, Decimal]:
        """(input USD, output USD) for these token counts."""
        cached = min(cached, prompt)
        cache_write = min(cache_write, prompt - cached)
        if self.per_1k is None:
            usage = genai_prices.Usage(input_tokens=prompt, cache_read_tokens=cached,
                                       cache_write_tokens=cache_write, output_tokens=completion)
            calc = genai_prices.calc_price(usage, self.model_ref, provider_id=self.genai_provider_id,
                                           genai_request_timestamp=self.clock())
            return calc.input_price, calc.output_price
        per_in, per_out, per_read, per_write = self.per_1k
        uncached = prompt - cached - cache_write
        input_usd = (per_in * uncached + per_read * cached + per_write * cache_write) / 1000
        return input_usd, per_out * completion / 1000

    def blended_per_1k(self) -> Decimal:
        """USD for 1,000 prompt plus 1,000 completion tokens: how strategies compare providers."""
        return sum(self.cost(1000, 1000), Decimal(0))


class PriceBook:
    def __init__(self, frontier: FrontierConfig, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._prices = {p.name: self._price_for(p, frontier) for p in frontier.providers}

    def _price_for(self, p: ProviderConfig, frontier: FrontierConfig) -> ProviderPrice:
        if p.cost_per_1k_input is not None and p.cost_per_1k_output is not None:
            per_in = _dec(p.cost_per_1k_input)
            read = per_in if p.cost_per_1k_cache_read is None else _dec(p.cost_per_1k_cache_read)
            write = per_in if p.cost_per_1k_cache_write is None else _dec(p.cost_per_1k_cache_write)
            return ProviderPrice(p.name, "config", p.model, None, (per_in, _dec(p.cost_per_1k_output), read, write),
                                 self._clock)
        if is_local(p):
            each = _dec(frontier.local_cost_per_1k_tokens)
            return ProviderPrice(p.name, "local", p.model, None, (each, each, each, each), self._clock)
        kind = ENGINE_KINDS.get(p.engine.value)  # auto (a local model) has no row, and no genai-prices id
        provider_id = kind.genai_provider_id if kind is not None else None
        price = ProviderPrice(p.name, "genai-prices", p.model, provider_id, None, self._clock)
        try:
            price.cost(1, 1)
        except LookupError:
            raise ConfigInvalid(
                f"provider {p.name!r}: genai-prices has no price for model {p.model!r}; set cost_per_1k_input and "
                "cost_per_1k_output, or tag it local", code="price_unknown",
            ) from None
        return price

    def blended_per_1k(self, provider: ProviderConfig) -> Decimal:
        return self._prices[provider.name].blended_per_1k()

    def cost(self, provider: str, usage: Any) -> Cost:
        """The real cost of a finished call from its ``Usage``."""
        price = self._prices[provider]
        cached = int(getattr(usage, "cached_prompt_tokens", 0) or 0)
        written = int(getattr(usage, "cache_write_tokens", 0) or 0)
        input_usd, output_usd = price.cost(usage.prompt_tokens, usage.completion_tokens, cached, written)
        return Cost(provider=provider, source=price.source, prompt_tokens=usage.prompt_tokens, cached_tokens=cached,
                    cache_write_tokens=written, completion_tokens=usage.completion_tokens,
                    input_usd=input_usd, output_usd=output_usd, total_usd=input_usd + output_usd)

    def estimate(self, provider: str, *, prompt_tokens: int, max_completion_tokens: int,
                 outlook: "CacheOutlook | None" = None, prompt_tokens_ceiling: int | None = None) -> CostEstimate:
        """``prompt_tokens`` is the typical count; ``prompt_tokens_ceiling`` the most it can be, which
        ``max_cost_usd`` (what a budget reserves) is priced at, so a dense prompt cannot overspend."""
        price = self._prices[provider]
        outlook = outlook or CacheOutlook(0, 0.0)
        ceiling = max(prompt_tokens, prompt_tokens_ceiling or prompt_tokens)
        expected_cached = min(prompt_tokens, round(outlook.matched_tokens * outlook.probability))
        full = sum(price.cost(prompt_tokens, max_completion_tokens), Decimal(0))
        effective = sum(price.cost(prompt_tokens, max_completion_tokens, cached=expected_cached), Decimal(0))
        written = max(sum(price.cost(ceiling, max_completion_tokens), Decimal(0)),
                      sum(price.cost(ceiling, max_completion_tokens, cache_write=ceiling), Decimal(0)))
        return CostEstimate(
            provider=provider, source=price.source, prompt_tokens=prompt_tokens,
            max_completion_tokens=max_completion_tokens, expected_cached_tokens=expected_cached,
            cache_hit_probability=outlook.probability, full_cost_usd=full, effective_cost_usd=effective,
            cache_discount_usd=full - effective, max_cost_usd=max(full, written),
        )


def max_prompt_tokens(prompt: Sequence[Message]) -> int:
    """The most tokens the prompt can be with no tokenizer at hand: its UTF-8 bytes (a byte-level
    BPE token always covers at least one byte) plus the template's overhead."""
    return sum(len(m.content.encode()) + MESSAGE_OVERHEAD_TOKENS for m in prompt) + 2


def prompt_text(messages: Sequence[Message]) -> str:
    """The prompt as a provider's cache sees it: messages in order, roles included."""
    return "".join(f"<{m.role}>{m.content}" for m in messages)


@dataclass(frozen=True)
class CacheOutlook:
    matched_tokens: int  # prompt tokens covered by a prefix this workspace sent the provider recently
    probability: float  # how likely the provider still holds it


class PrefixCache:
    """Recent prompt prefixes per workspace and provider, to guess how much of a prompt is cached.

    Providers cache prompt prefixes in blocks (about 1,024 tokens) for a few minutes. We keep a
    small LRU of chained hashes of each prompt's whole blocks; a new prompt's longest run of
    remembered blocks is what may be cached, more likely the more recently it was seen.
    Held in memory per replica: a miss only makes an estimate more cautious.
    """

    def __init__(self, *, block_tokens: int = 1024, ttl_s: float = 300.0, max_prefixes: int = 256,
                 max_workspaces: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.block_chars = block_tokens * CHARS_PER_TOKEN
        self.block_tokens = block_tokens
        self.ttl_s = ttl_s
        self.max_prefixes = max_prefixes
        self.max_workspaces = max_workspaces
        self._clock = clock
        self._seen: OrderedDict[str, OrderedDict[tuple[str, str], float]] = OrderedDict()

    def _block_hashes(self, text: str) -> list[str]:
        hashes, running = [], hashlib.sha256()
        for start in range(0, len(text) - self.block_chars + 1, self.block_chars):
            running.update(text[start:start + self.block_chars].encode())
            hashes.append(running.copy().hexdigest())
        return hashes

    def outlook(self, workspace_id: str, provider: str, text: str, prompt_tokens: int) -> CacheOutlook:
        seen = self._seen.get(workspace_id)
        if not seen:
            return CacheOutlook(0, 0.0)
        now, best = self._clock(), (0, 0.0)
        for blocks, digest in enumerate(self._block_hashes(text), start=1):
            at = seen.get((provider, digest))
            if at is None or now - at >= self.ttl_s:
                break
            best = (blocks, 1.0 - (now - at) / self.ttl_s)
        blocks, probability = best
        return CacheOutlook(min(prompt_tokens, blocks * self.block_tokens), probability)

    def remember(self, workspace_id: str, provider: str, text: str) -> None:
        seen = self._seen.setdefault(workspace_id, OrderedDict())
        self._seen.move_to_end(workspace_id)
        now = self._clock()
        for digest in self._block_hashes(text):
            seen[(provider, digest)] = now
            seen.move_to_end((provider, digest))
        while len(seen) > self.max_prefixes:
            seen.popitem(last=False)
        while len(self._seen) > self.max_workspaces:
            self._seen.popitem(last=False)
