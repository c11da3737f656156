"""Budgets: reserve, settle, release, atomically; 50 concurrent requests never overspend a budget for 10."""

import asyncio
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from router.core.config import FrontierConfig
from router.core.errors import BudgetExceeded
from router.frontier.budgets import BudgetLedger, request_cap_error, within_request_cap
from router.frontier.pricing import PriceBook
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore
from tests.unit.ledger_worker import run_in_processes

TEN_CENTS = Decimal("0.10")


@pytest.fixture
def workspace(db):
    return WorkspaceStore(db).create("acme", WorkspaceSettings(monthly_budget_usd=Decimal("1.00"))).workspace


def test_reserve_then_settle_charges_the_real_cost(db, workspace):
    ledger = BudgetLedger(db)
    held = ledger.reserve(workspace, "r1", "gpt", Decimal("0.30"))
    assert ledger.spend(workspace).reserved_usd == Decimal("0.3")
    assert ledger.settle(held.id, Decimal("0.0123"))
    assert not ledger.settle(held.id, Decimal("0.0123"))  # settling twice charges once
    spend = ledger.spend(workspace)
    assert (spend.spent_usd, spend.reserved_usd, spend.settled_requests) == (Decimal("0.0123"), 0, 1)
    assert spend.remaining_usd == Decimal("0.9877")


def test_a_failed_call_releases_its_hold_and_is_recorded(db, workspace):
    ledger = BudgetLedger(db)
    held = ledger.reserve(workspace, "r1", "gpt", Decimal("0.90"))
    assert ledger.release(held.id, "upstream 502")
    assert not ledger.settle(held.id, Decimal("0.90"))  # a late settle after release changes nothing
    spend = ledger.spend(workspace)
    assert (spend.spent_usd, spend.reserved_usd, spend.failed_requests) == (0, 0, 1)
    ledger.reserve(workspace, "r2", "gpt", Decimal("1.00"))  # the whole budget is available again


def test_over_the_monthly_budget_is_a_402_naming_the_limit(db, workspace):
    ledger = BudgetLedger(db)
    ledger.settle(ledger.reserve(workspace, "r1", "gpt", Decimal("0.95")).id, Decimal("0.95"))
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve(workspace, "r2", "gpt", TEN_CENTS)
    error = caught.value
    assert (error.status_code, error.code) == (402, "budget_exceeded")
    assert "monthly_budget_usd" in error.message and error.details["available_usd"] == "0.05"
    assert ledger.spend(workspace).refused_requests == 1


def test_over_the_per_request_cap_first_a_cheaper_provider_else_402(db):
    settings = WorkspaceSettings(max_cost_per_request_usd=Decimal("0.01"))
    workspace = WorkspaceStore(db).create("capped", settings).workspace
    frontier = FrontierConfig(providers=[
        {"name": "big", "engine": "openai", "model": "gpt-4o", "quality": 0.9, "max_context": 128000},
        {"name": "small", "engine": "openai", "model": "gpt-4o-mini", "quality": 0.8, "max_context": 128000},
    ])
    book = PriceBook(frontier)
    estimates = [book.estimate(p, prompt_tokens=4_000, max_completion_tokens=1_000) for p in ("big", "small")]
    assert [e.provider for e in within_request_cap(settings, estimates)] == ["small"]  # the cheaper option
    ledger = BudgetLedger(db)
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve(workspace, "r1", "big", estimates[0].max_cost_usd)
    assert "max_cost_per_request_usd" in caught.value.message and caught.value.status_code == 402
    assert caught.value.details["limit"] == "max_cost_per_request_usd"
    assert request_cap_error(settings, Decimal("0.05")).code == "budget_exceeded"
    ledger.reserve(workspace, "r1", "small", estimates[1].max_cost_usd)


def test_fifty_concurrent_threads_against_a_budget_that_fits_ten(db, workspace):
    ledger = BudgetLedger(db)
    outcomes: list[object] = []
    start = threading.Barrier(50)

    def request(i: int) -> None:
        start.wait()
        try:
            held = ledger.reserve(workspace, f"r{i}", "gpt", TEN_CENTS)
            ledger.settle(held.id, TEN_CENTS)
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - every refusal is inspected below
            outcomes.append(exc)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    refused = [o for o in outcomes if o != "ok"]
    assert outcomes.count("ok") == 10 and len(refused) == 40
    assert all(isinstance(e, BudgetExceeded) and e.status_code == 402 for e in refused)
    spend = ledger.spend(workspace)
    assert spend.spent_usd == Decimal("1.00") and spend.reserved_usd == 0
    assert spend.refused_requests == 40


async def test_fifty_concurrent_asyncio_requests_never_overspend(db, workspace):
    ledger = BudgetLedger(db)

    async def request(i: int) -> str:
        try:
            held = await ledger.areserve(workspace, f"r{i}", "gpt", TEN_CENTS)
        except BudgetExceeded as exc:
            return f"refused {exc.status_code}"
        await ledger.asettle(held.id, TEN_CENTS)
        return "ok"

    outcomes = await asyncio.gather(*(request(i) for i in range(50)))
    assert outcomes.count("ok") == 10 and outcomes.count("refused 402") == 40
    assert (await ledger.aspend(workspace)).spent_usd == Decimal("1.00")


def test_two_processes_with_25_threads_each_share_one_budget(db, db_url, workspace):
    results = run_in_processes("budget", db_url, workspace.id, "25")
    assert sum(r["ok"] for r in results) == 10
    assert sum(r["refused_402"] for r in results) == 40
    assert sum(r["other"] for r in results) == 0
    assert BudgetLedger(db).spend(workspace).spent_usd == Decimal("1.00")


def test_the_budget_is_per_calendar_month_in_utc(db, workspace):
    now = [datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)]
    ledger = BudgetLedger(db, clock=lambda: now[0])
    held = ledger.reserve(workspace, "r1", "gpt", Decimal("1.00"))
    with pytest.raises(BudgetExceeded):
        ledger.reserve(workspace, "r2", "gpt", TEN_CENTS)
    now[0] = datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC)
    ledger.reserve(workspace, "r3", "gpt", TEN_CENTS)  # a new month, a new budget
    ledger.settle(held.id, Decimal("0.40"))  # settles into January, where it was reserved
    assert ledger.spend(workspace, "2026-01").spent_usd == Decimal("0.4")
    assert ledger.spend(workspace).reserved_usd == Decimal("0.1")


def test_holds_abandoned_by_a_dead_process_can_be_released(db, workspace):
    ledger = BudgetLedger(db)
    ledger.reserve(workspace, "r1", "gpt", Decimal("0.50"))
    assert ledger.release_stale(older_than_s=3600) == 0
    assert ledger.release_stale(older_than_s=-1) == 1
    assert ledger.spend(workspace).reserved_usd == 0


def test_without_a_monthly_budget_spend_is_still_tracked(db):
    workspace = WorkspaceStore(db).create("free").workspace
    ledger = BudgetLedger(db)
    ledger.settle(ledger.reserve(workspace, "r1", "spark", Decimal("5")).id, Decimal("4.5"))
    spend = ledger.spend(workspace)
    assert (spend.spent_usd, spend.budget_usd, spend.remaining_usd) == (Decimal("4.5"), None, None)


def test_the_per_request_cap_error_names_the_provider_and_both_amounts():
    settings = WorkspaceSettings(max_cost_per_request_usd=Decimal("0.01"))
    on_provider = request_cap_error(settings, Decimal("0.05"), "premium")
    assert on_provider.details == {"limit": "max_cost_per_request_usd", "limit_usd": "0.01", "requested_usd": "0.05"}
    assert "could cost up to $0.05 on premium, over the workspace's max_cost_per_request_usd of $0.01" in \
        on_provider.message
    anywhere = request_cap_error(settings, Decimal("0.05"))
    assert "up to $0.05, over" in anywhere.message and (anywhere.status_code, anywhere.code) == (402, "budget_exceeded")


def test_stale_release_takes_only_holds_still_held_and_keeps_the_settled(db, workspace):
    ledger = BudgetLedger(db)
    settled = ledger.reserve(workspace, "r1", "gpt", Decimal("0.20"))
    ledger.settle(settled.id, Decimal("0.10"))
    ledger.reserve(workspace, "r2", "gpt", Decimal("0.30"))
    assert ledger.release_stale(older_than_s=-1) == 1  # the settled one is not held: left alone
    spend = ledger.spend(workspace)
    assert (spend.spent_usd, spend.reserved_usd, spend.settled_requests, spend.failed_requests) == \
        (Decimal("0.1"), 0, 1, 1)


async def test_the_async_spend_reads_the_month_asked_for(db):
    now = [datetime(2026, 1, 31, 23, 0, tzinfo=UTC)]
    workspace = WorkspaceStore(db).create("m", WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    ledger = BudgetLedger(db, clock=lambda: now[0])
    ledger.settle(ledger.reserve(workspace, "r1", "gpt", TEN_CENTS).id, TEN_CENTS)
    now[0] = datetime(2026, 2, 1, 1, 0, tzinfo=UTC)
    assert (await ledger.aspend(workspace, "2026-01")).spent_usd == TEN_CENTS
    assert (await ledger.aspend(workspace)).spent_usd == 0  # the current month: February


def reservation_rows(db):
    from sqlalchemy import select

    from router.storage.schema import reservations
    with db.read() as conn:
        return {row.request_id: row for row in conn.execute(select(reservations))}


def test_spend_counts_only_this_workspace_and_this_month(db, workspace):
    now = [datetime(2026, 1, 15, tzinfo=UTC)]
    ledger = BudgetLedger(db, clock=lambda: now[0])
    other = WorkspaceStore(db).create("other", WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    ledger.settle(ledger.reserve(other, "o1", "gpt", TEN_CENTS).id, TEN_CENTS)  # another workspace's
    ledger.settle(ledger.reserve(workspace, "r1", "gpt", TEN_CENTS).id, TEN_CENTS)  # January's
    now[0] = datetime(2026, 2, 15, tzinfo=UTC)
    ledger.reserve(other, "o2", "gpt", TEN_CENTS)
    ledger.settle(ledger.reserve(workspace, "r2", "gpt", Decimal("0.20")).id, Decimal("0.20"))
    spend = ledger.spend(workspace)
    assert (spend.spent_usd, spend.settled_requests, spend.in_flight_requests) == (Decimal("0.2"), 1, 0)
    january = ledger.spend(workspace, "2026-01")
    assert (january.spent_usd, january.settled_requests) == (TEN_CENTS, 1)


def test_a_fresh_workspace_has_nothing_counted_and_a_hold_is_in_flight(db, workspace):
    ledger = BudgetLedger(db)
    fresh = ledger.spend(workspace)
    assert (fresh.settled_requests, fresh.failed_requests, fresh.refused_requests, fresh.in_flight_requests) == \
        (0, 0, 0, 0)
    ledger.settle(ledger.reserve(workspace, "r1", "gpt", TEN_CENTS).id, TEN_CENTS)
    ledger.reserve(workspace, "r2", "gpt", Decimal("0.30"))
    spend = ledger.spend(workspace)
    assert (spend.in_flight_requests, spend.settled_requests) == (1, 1)
    assert spend.remaining_usd == Decimal("0.6")  # the budget less what is spent and what is held


def test_a_release_keeps_why_and_when_and_a_refusal_keeps_the_limit_that_said_no(db, workspace):
    ledger = BudgetLedger(db)
    long_error = "upstream said: " + "x" * 5_000
    ledger.release(ledger.reserve(workspace, "failed", "gpt", TEN_CENTS).id, long_error)
    ledger.settle(ledger.reserve(workspace, "big", "gpt", Decimal("0.95")).id, Decimal("0.95"))
    with pytest.raises(BudgetExceeded):
        ledger.reserve(workspace, "refused", "gpt", TEN_CENTS)
    capped = WorkspaceStore(db).create("capped", WorkspaceSettings(max_cost_per_request_usd=Decimal("0.01")))
    with pytest.raises(BudgetExceeded):
        ledger.reserve(capped.workspace, "over-cap", "gpt", TEN_CENTS)
    rows = reservation_rows(db)
    assert rows["failed"].error == long_error[:2000]  # bounded, and the start kept
    assert rows["failed"].closed_at is not None
    for request_id, limit in (("refused", "monthly_budget_usd"), ("over-cap", "max_cost_per_request_usd")):
        refused = rows[request_id]
        assert (refused.state, refused.error, refused.amount_nusd) == ("refused", limit, 100_000_000)
        assert refused.closed_at is not None and refused.closed_at >= refused.created_at  # closed at once


def test_a_hold_exactly_as_old_as_the_limit_is_not_yet_stale(db, workspace, monkeypatch):
    ledger = BudgetLedger(db)
    monkeypatch.setattr("router.frontier.budgets.time.time", lambda: 1_000_000.0)
    ledger.reserve(workspace, "r1", "gpt", TEN_CENTS)
    monkeypatch.setattr("router.frontier.budgets.time.time", lambda: 1_000_060.0)
    assert ledger.release_stale(older_than_s=60) == 0
    assert ledger.release_stale(older_than_s=59.5) == 1


@pytest.mark.parametrize("month", ["banana", "2026-13", "2026-1", "26-01", ""])
def test_a_malformed_month_is_refused_naming_the_month_parameter(db, workspace, month):
    from router.core.errors import InvalidRequest
    with pytest.raises(InvalidRequest) as caught:
        BudgetLedger(db).spend(workspace, month)
    assert (caught.value.code, caught.value.param, caught.value.status_code) == ("invalid_month", "month", 400)
