"""The frontier pool itself, with no Ray: plan -> admit -> call -> settle or fail, for answers and streams."""

import inspect
from decimal import Decimal

import pytest

from deployments.frontier import SlotProvider
from models.engine import Engine
from router.core.config import FrontierConfig, ProviderConfig, TierSettings
from router.core.errors import (
    BudgetExceeded,
    RateLimited,
    TierUnavailable,
    UpstreamError,
)
from router.core.generation import GenerationRequest, Message
from router.frontier.keys import ProviderKeyStore, generate_master_key, load_cipher
from router.frontier.ledger import FrontierLedger
from router.frontier.pool import FrontierPool, ProviderEndpoint
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore
from tests.fakes.fake_provider import FakeProvider, ScriptedEngine

CHEAP = ProviderConfig(name="cheap", model="c", base_url="http://c/v1", quality=0.8, max_context=32_000,
                       cost_per_1k_input=0.001, cost_per_1k_output=0.002)
PREMIUM = ProviderConfig(name="premium", model="p", base_url="http://p/v1", quality=0.95, max_context=32_000,
                         cost_per_1k_input=0.01, cost_per_1k_output=0.03)
SETTINGS = TierSettings(context_length=32_000, max_tokens=500, temperature=0.7, timeout_s=10, concurrency=4)
REQUEST = GenerationRequest(request_id="r1", messages=[Message(role="user", content="x" * 4_000)])
# 1,000 prompt tokens and 2 completion tokens, at each provider's configured price
CHEAP_COST, PREMIUM_COST = Decimal("0.001004"), Decimal("0.01006")


@pytest.fixture
def store(db):
    return WorkspaceStore(db)


def make_pool(db, store, *providers: FakeProvider, daily_cap: int = 10) -> FrontierPool:
    frontier = FrontierConfig(strategy="cheapest_qualified", daily_cap=daily_cap,
                              providers=[p.config for p in providers])
    keys = ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY": generate_master_key()}), environ={})
    return FrontierPool(list(providers), FrontierLedger(frontier, db, keys), store, SETTINGS)


def request_for(workspace, **changes) -> GenerationRequest:
    return REQUEST.model_copy(update={"workspace_id": workspace.id, **changes})


def calls_today(pool: FrontierPool) -> dict[str, int]:
    """Daily-cap slots taken: all providers ("*") and each one."""
    used = pool.ledger.caps.used()
    return {name: used.get(name, 0) for name in ("*", "cheap", "premium")}


def spend(pool: FrontierPool, workspace):
    summary = pool.ledger.budgets.spend(workspace)
    return summary.spent_usd, summary.reserved_usd, summary.failed_requests


async def test_the_cheapest_provider_answers_and_its_real_cost_is_settled(db, store):
    cheap, premium = FakeProvider(CHEAP, ScriptedEngine("cheap", ["hello", "there"])), \
        FakeProvider(PREMIUM, ScriptedEngine("premium", ["no"]))
    pool = make_pool(db, store, premium, cheap)
    workspace = store.create("a", WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    answer = await pool.generate(request_for(workspace))
    assert (answer.provider, answer.text, answer.cost_usd) == ("cheap", "hello there", CHEAP_COST)
    assert spend(pool, workspace) == (CHEAP_COST, 0, 0)
    assert calls_today(pool) == {"*": 1, "cheap": 1, "premium": 0}
    assert premium.engine.calls == []
    # The engine gets the tier's temperature and the completion budget the ledger reserved.
    assert cheap.engine.calls == [{"max_tokens": 500, "temperature": 0.7}]
    assert [p.config.name for p in pool.providers] == ["cheap", "premium"]  # the order requests try them in


async def test_a_failing_provider_is_released_and_the_next_one_answers(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", [], error=RateLimited("slow down", retry_after=30)))
    premium = FakeProvider(PREMIUM, ScriptedEngine("premium", ["fine", "answer"]))
    pool = make_pool(db, store, cheap, premium)
    workspace = store.create("a", WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    answer = await pool.generate(request_for(workspace))
    assert answer.provider == "premium" and answer.cost_usd == PREMIUM_COST
    assert answer.skipped == ["cheap: slow down"]
    assert spend(pool, workspace) == (PREMIUM_COST, 0, 1)  # cheap's hold released, nothing charged for it
    assert calls_today(pool) == {"*": 1, "cheap": 0, "premium": 1}  # its cap slot given back
    status = await pool.status()
    assert status.provider == "premium" and "cooling down" in status.detail["providers"][0]["reason"]


async def test_an_unreachable_provider_is_marked_down_before_the_next_one_answers(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", [], error=TierUnavailable("connection refused")))
    premium = FakeProvider(PREMIUM, ScriptedEngine("premium", ["ok", "then"]))
    pool = make_pool(db, store, cheap, premium)
    workspace = store.create("a").workspace
    assert (await pool.generate(request_for(workspace))).provider == "premium"
    assert cheap.marked_down == ["connection refused"]


async def test_over_budget_everywhere_is_402_and_no_engine_is_called(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", ["a"]))
    premium = FakeProvider(PREMIUM, ScriptedEngine("p", ["b"]))
    pool = make_pool(db, store, cheap, premium)
    workspace = store.create("poor", WorkspaceSettings(monthly_budget_usd=Decimal("0.0001"))).workspace
    with pytest.raises(BudgetExceeded) as caught:
        await pool.generate(request_for(workspace))
    assert caught.value.status_code == 402
    assert cheap.engine.calls == [] and premium.engine.calls == []
    assert spend(pool, workspace) == (0, 0, 0) and calls_today(pool)["*"] == 0


async def test_a_provider_still_loading_is_passed_over_without_a_hold(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", ["a"]), state="loading")
    pool = make_pool(db, store, cheap)
    workspace = store.create("a").workspace
    with pytest.raises(TierUnavailable, match="still loading"):
        await pool.generate(request_for(workspace))
    assert spend(pool, workspace) == (0, 0, 0) and cheap.marked_down == []


async def test_a_stream_settles_before_its_last_delta_which_carries_the_cost(db, store):
    pool = make_pool(db, store, FakeProvider(CHEAP, ScriptedEngine("cheap", ["one", "two"])))
    workspace = store.create("a").workspace
    deltas = [d async for d in pool.stream(request_for(workspace))]
    assert [d.text for d in deltas] == ["one", "two", ""]
    assert deltas[-1].cost_usd == CHEAP_COST and deltas[-1].usage.completion_tokens == 2
    assert spend(pool, workspace) == (CHEAP_COST, 0, 0)


async def test_a_stream_that_fails_before_any_output_falls_back_and_says_so(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", ["never"], error=UpstreamError("502 upstream"), fail_after=0))
    pool = make_pool(db, store, cheap, FakeProvider(PREMIUM, ScriptedEngine("premium", ["fine", "answer"])))
    workspace = store.create("a").workspace
    deltas = [d async for d in pool.stream(request_for(workspace))]
    assert deltas[0].provider == "premium" and deltas[0].skipped == ["cheap: 502 upstream"]
    assert [d.skipped for d in deltas[1:]] == [[], []]  # said once, on the first delta
    assert spend(pool, workspace) == (PREMIUM_COST, 0, 1)


async def test_a_stream_cut_after_output_ends_with_the_error_and_releases_its_hold(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", ["half", "an", "answer"], error=UpstreamError("reset"),
                                               fail_after=2))
    premium = FakeProvider(PREMIUM, ScriptedEngine("premium", ["would", "not", "continue"]))
    pool = make_pool(db, store, cheap, premium)
    workspace = store.create("a").workspace
    received = []
    with pytest.raises(UpstreamError, match="reset"):
        async for delta in pool.stream(request_for(workspace)):
            received.append(delta.text)
    assert received == ["half", "an"]  # another provider cannot continue someone else's answer
    assert premium.engine.calls == []
    assert spend(pool, workspace) == (0, 0, 1) and calls_today(pool)["*"] == 0


async def test_a_stream_the_caller_closes_early_releases_its_hold(db, store):
    pool = make_pool(db, store, FakeProvider(CHEAP, ScriptedEngine("cheap", ["a", "b", "c"])))
    workspace = store.create("a").workspace
    stream = pool.stream(request_for(workspace))
    assert (await anext(stream)).text == "a"
    await stream.aclose()
    assert spend(pool, workspace) == (0, 0, 1) and calls_today(pool)["*"] == 0


async def test_an_unexpected_engine_failure_is_released_and_raised_not_passed_over(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", [], error=RuntimeError("bug")))
    premium = FakeProvider(PREMIUM, ScriptedEngine("premium", ["x"]))
    pool = make_pool(db, store, cheap, premium)
    workspace = store.create("a").workspace
    with pytest.raises(RuntimeError, match="bug"):
        await pool.generate(request_for(workspace))
    assert premium.engine.calls == [] and spend(pool, workspace) == (0, 0, 1)


async def test_a_workspace_key_gets_its_own_engine_built_once(db, store):
    keyed = ProviderConfig(**{**CHEAP.model_dump(), "api_key_env": "CHEAP_KEY"})
    provider = FakeProvider(keyed, ScriptedEngine("cheap", ["server", "key"]))
    pool = make_pool(db, store, provider)
    workspace = store.create("a").workspace
    pool.ledger.keys.set_key(workspace.id, "cheap", "sk-workspace-own")
    first = await pool.generate(request_for(workspace))
    second = await pool.generate(request_for(workspace, request_id="r2"))
    assert first.text == second.text == "keyed-1"
    assert provider.keyed == ["sk-workspace-own"] and provider.engine.calls == []


async def test_no_providers_is_503_not_configured(db, store):
    pool = make_pool(db, store)
    with pytest.raises(TierUnavailable) as caught:
        await pool.generate(request_for(store.create("a").workspace))
    assert caught.value.code == "not_configured"
    assert not (await pool.status()).available


def test_the_fakes_have_the_real_interfaces():
    for name in ("generate", "stream", "close"):
        real, fake = inspect.signature(getattr(Engine, name)), inspect.signature(getattr(ScriptedEngine, name))
        assert list(real.parameters) == list(fake.parameters), name
    methods = {n for n in vars(ProviderEndpoint) if not n.startswith("_")}
    assert methods == {"state", "ready", "reason", "mark_down", "check", "with_key", "close"}
    for name in methods:
        real, fake = getattr(SlotProvider, name), getattr(FakeProvider, name)
        if callable(real):
            assert list(inspect.signature(real).parameters) == list(inspect.signature(fake).parameters), name


async def test_a_pinned_provider_is_the_only_one_that_may_answer(db, store):
    cheap = FakeProvider(CHEAP, ScriptedEngine("cheap", ["c"]))
    premium = FakeProvider(PREMIUM, ScriptedEngine("p", ["p"]))
    pool = make_pool(db, store, cheap, premium)
    workspace = store.create("a").workspace
    answer = await pool.generate(request_for(workspace, provider="premium"))
    assert answer.provider == "p" and cheap.engine.calls == []
    with pytest.raises(TierUnavailable, match="the only provider this request may use"):
        await pool.generate(request_for(workspace, provider="nobody", request_id="r2"))


async def test_a_stream_that_ends_without_usage_still_settles_and_releases_nothing_twice(db, store):
    engine = ScriptedEngine("cheap", ["a", "b"])
    engine.sends_usage = False
    pool = make_pool(db, store, FakeProvider(CHEAP, engine))
    workspace = store.create("a").workspace
    request = request_for(workspace)
    deltas = [d async for d in pool.stream(request)]
    assert [d.text for d in deltas] == ["a", "b"]  # no final delta to carry a cost
    assert engine.requests == [request]  # the engine got the caller's request itself
    assert spend(pool, workspace) == (0, 0, 0)  # settled at zero usage: nothing held, nothing failed
    assert pool.ledger.budgets.spend(workspace).settled_requests == 1
