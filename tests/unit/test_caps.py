"""Daily frontier caps: allow, deny, fall back; shared across processes; reset at UTC midnight."""

from datetime import UTC, datetime

from router.core.config import FrontierConfig
from router.frontier.caps import DailyCaps
from tests.unit.ledger_worker import run_in_processes


def test_allow_then_deny_then_fall_back_to_another_provider_then_to_a_lower_tier(db):
    caps = DailyCaps(db)
    assert caps.take("a", aggregate_cap=3, provider_cap=1).allowed
    refused = caps.take("a", aggregate_cap=3, provider_cap=1)
    assert (refused.allowed, refused.refused_by, refused.fallback) == (False, "provider", "next_provider")
    assert "provider a reached its daily cap of 1 calls" in refused.reason
    assert caps.take("b", aggregate_cap=3, provider_cap=None).allowed
    assert caps.take("b", aggregate_cap=3, provider_cap=None).allowed
    pool_full = caps.take("b", aggregate_cap=3, provider_cap=None)
    assert (pool_full.allowed, pool_full.refused_by, pool_full.fallback) == (False, "aggregate", "lower_tier")
    assert "lower tier" in pool_full.reason
    assert caps.used() == {"*": 3, "a": 1, "b": 2}  # refusals are not counted


def test_caps_come_from_the_frontier_config(db):
    entry = {"model": "m", "base_url": "http://a/v1", "quality": 0.5, "max_context": 4096,
             "cost_per_1k_input": 0.001, "cost_per_1k_output": 0.002}
    frontier = FrontierConfig(daily_cap=2, providers=[{**entry, "name": "off", "daily_cap": 0},
                                                      {**entry, "name": "open"}])
    off, open_ = frontier.providers
    caps = DailyCaps(db)
    refused = caps.take_for(off, frontier)  # a provider cap of 0: never called
    assert (refused.allowed, refused.refused_by, refused.fallback) == (False, "provider", "next_provider")
    assert caps.take_for(open_, frontier).allowed and caps.take_for(open_, frontier).allowed
    full = caps.take_for(open_, frontier)  # the pool's cap of 2, whatever the provider's own
    assert (full.allowed, full.refused_by) == (False, "aggregate")


def test_a_failed_call_gives_its_slot_back(db):
    caps = DailyCaps(db)
    taken = caps.take("a", aggregate_cap=1, provider_cap=1)
    caps.give_back(taken)
    assert caps.take("a", aggregate_cap=1, provider_cap=1).allowed
    caps.give_back(caps.take("a", aggregate_cap=1, provider_cap=1))  # a refusal has nothing to give back
    assert caps.used() == {"*": 1, "a": 1}


def test_two_processes_share_the_caps(db, db_url):
    first = DailyCaps(db)
    for _ in range(2):
        assert first.take("a", aggregate_cap=12, provider_cap=7).allowed
    results = run_in_processes("caps", db_url, "20")
    # 7 calls to a in all (2 made here), then b until the pool's 12, then every request falls to a lower tier.
    assert sum(r["a"] for r in results) == 5
    assert sum(r["b"] for r in results) == 5
    assert sum(r["lower_tier"] for r in results) == 30
    assert first.used() == {"*": 12, "a": 7, "b": 5}


def test_the_count_resets_at_utc_midnight(db):
    now = [datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)]
    caps = DailyCaps(db, clock=lambda: now[0])
    assert caps.take("a", aggregate_cap=1, provider_cap=None).allowed
    late = caps.take("a", aggregate_cap=1, provider_cap=None)
    assert not late.allowed and "2026-03-01" in late.reason
    now[0] = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
    assert caps.take("a", aggregate_cap=1, provider_cap=None).allowed
    assert caps.used("2026-03-01") == {"*": 1, "a": 1}
    # A call taken before midnight that fails after it is given back to its own day.
    now[0] = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)
    taken = caps.take("a", aggregate_cap=5, provider_cap=None)
    now[0] = datetime(2026, 3, 3, 0, 0, 1, tzinfo=UTC)
    caps.give_back(taken)
    assert caps.used("2026-03-02") == {"*": 1, "a": 1}


async def test_async_twins(db):
    frontier = FrontierConfig(daily_cap=1, providers=[
        {"name": "a", "model": "m", "base_url": "http://a/v1", "quality": 0.5, "max_context": 4096,
         "cost_per_1k_input": 0.001, "cost_per_1k_output": 0.002}])
    caps = DailyCaps(db)
    taken = await caps.atake_for(frontier.providers[0], frontier)
    assert taken.allowed and not (await caps.atake_for(frontier.providers[0], frontier)).allowed
    await caps.agive_back(taken)
    assert caps.used() == {"*": 0, "a": 0}


def test_a_slot_given_back_touches_only_its_own_day_and_never_goes_below_zero(db):
    now = [datetime(2026, 3, 1, 12, tzinfo=UTC)]
    caps = DailyCaps(db, clock=lambda: now[0])
    assert caps.take("a", aggregate_cap=None, provider_cap=None).allowed  # yesterday's call stays counted
    now[0] = datetime(2026, 3, 2, 12, tzinfo=UTC)
    taken = caps.take("a", aggregate_cap=None, provider_cap=None)
    caps.give_back(taken)
    caps.give_back(taken)  # a second give-back (a retried failure path) cannot make room that was never taken
    assert caps.used("2026-03-01") == {"*": 1, "a": 1}
    assert caps.used("2026-03-02") == {"*": 0, "a": 0}


def test_used_lists_the_pool_first_then_providers_by_name(db):
    caps = DailyCaps(db)
    for name in ("zeta", "alpha", "mid"):
        caps.take(name, aggregate_cap=None, provider_cap=None)
    assert list(caps.used()) == ["*", "alpha", "mid", "zeta"]
