"""The whole per-request sequence against fake providers: plan, admit, call, settle or fail, and why."""

from decimal import Decimal

import pytest

from router.core.config import FrontierConfig
from router.core.errors import BudgetExceeded, RateLimited, TierUnavailable
from router.core.generation import Message, Usage
from router.frontier.keys import ProviderKeyStore, generate_master_key, load_cipher
from router.frontier.ledger import Admitted, FrontierLedger, Refusal
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore

FRONTIER = FrontierConfig(strategy="cheapest_qualified", daily_cap=3, providers=[
    {"name": "cheap", "model": "c", "base_url": "http://c/v1", "quality": 0.8, "max_context": 32_000,
     "cost_per_1k_input": 0.001, "cost_per_1k_output": 0.002, "api_key_env": "CHEAP_KEY", "daily_cap": 1},
    {"name": "premium", "model": "p", "base_url": "http://p/v1", "quality": 0.95, "max_context": 32_000,
     "cost_per_1k_input": 0.01, "cost_per_1k_output": 0.03},
])
MESSAGES = [Message(role="user", content="x" * 4_000)]


@pytest.fixture
def ledger(db):
    keys = ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY": generate_master_key()}),
                            environ={"CHEAP_KEY": "sk-server"})
    return FrontierLedger(FRONTIER, db, keys)


@pytest.fixture
def workspaces(db):
    return WorkspaceStore(db)


async def serve(ledger, workspace, request_id, outcomes):
    """The pool's loop, with ``outcomes[name]`` an exception to raise or the Usage to return."""
    plan = ledger.plan(workspace, MESSAGES, max_tokens=500)
    refusals, failures = [], []
    for candidate in plan.candidates:
        admitted = await ledger.admit(workspace, request_id, candidate, plan.prompt)
        if isinstance(admitted, Refusal):
            refusals.append(admitted)
            continue
        assert isinstance(admitted, Admitted)
        outcome = outcomes[candidate.provider.name]
        if isinstance(outcome, Exception):
            await ledger.fail(admitted, outcome)
            failures.append(f"{candidate.provider.name}: {outcome}")
            continue
        return candidate.provider.name, await ledger.succeed(admitted, outcome)
    raise ledger.exhausted(plan, refusals, failures)


async def test_a_rate_limited_provider_falls_through_rests_and_costs_nothing(ledger, workspaces):
    workspace = workspaces.create("a", WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    used = Usage(prompt_tokens=1_000, completion_tokens=100)
    name, cost = await serve(ledger, workspace, "r1", {"cheap": RateLimited("slow down", retry_after=20),
                                                       "premium": used})
    assert name == "premium" and cost.total_usd == Decimal("0.013")
    spend = ledger.budgets.spend(workspace)
    assert (spend.spent_usd, spend.reserved_usd, spend.failed_requests) == (Decimal("0.013"), 0, 1)
    assert ledger.caps.used() == {"*": 1, "cheap": 0, "premium": 1}
    assert "cooling down" in ledger.plan(workspace, MESSAGES, max_tokens=500).excluded["cheap"]


async def test_over_the_per_request_cap_the_cheaper_provider_is_chosen_else_402(ledger, workspaces):
    settings = WorkspaceSettings(max_cost_per_request_usd=Decimal("0.01"))
    workspace = workspaces.create("a", settings).workspace
    plan = ledger.plan(workspace, MESSAGES, max_tokens=500)
    assert [c.provider.name for c in plan.candidates] == ["cheap"]
    assert "max_cost_per_request_usd" in plan.excluded["premium"]
    tight = workspaces.create("b", WorkspaceSettings(max_cost_per_request_usd=Decimal("0.0001"))).workspace
    with pytest.raises(BudgetExceeded) as caught:
        ledger.plan(tight, MESSAGES, max_tokens=500)
    assert caught.value.status_code == 402 and caught.value.details["fallback"] == "lower_tier"


async def test_a_workspace_without_its_own_key_skips_a_keyed_provider_when_server_keys_are_off(ledger, workspaces):
    workspace = workspaces.create("a", WorkspaceSettings(allow_server_keys=False)).workspace
    name, _ = await serve(ledger, workspace, "r1", {"premium": Usage(prompt_tokens=10, completion_tokens=1)})
    assert name == "premium"


async def test_caps_full_means_a_lower_tier_and_a_monthly_budget_refusal_is_a_402(ledger, workspaces):
    workspace = workspaces.create("a").workspace
    ok = {"cheap": Usage(prompt_tokens=10, completion_tokens=1), "premium": Usage(prompt_tokens=10, completion_tokens=1)}
    assert [(await serve(ledger, workspace, f"r{i}", ok))[0] for i in range(3)] == ["cheap", "premium", "premium"]
    with pytest.raises(TierUnavailable) as caught:
        await serve(ledger, workspace, "r4", ok)
    assert caught.value.code == "daily_cap_reached" and caught.value.details["fallback"] == "lower_tier"
    assert ledger.budgets.spend(workspace).reserved_usd == 0  # the refused request's holds were released

    poor = workspaces.create("poor", WorkspaceSettings(monthly_budget_usd=Decimal("0.001"))).workspace
    with pytest.raises(BudgetExceeded) as caught:
        await serve(ledger, poor, "r5", ok)
    assert caught.value.code == "budget_exceeded" and "monthly_budget_usd" in caught.value.message


async def test_a_dense_prompt_cannot_overspend_the_budget(db, workspaces):
    """Two bytes a character and one token a byte: four times the chars/4 guess. The reservation is
    priced at the byte ceiling, so even the worst real usage fits inside what was reserved."""
    frontier = FrontierConfig(strategy="cheapest_qualified", providers=[
        {"name": "only", "model": "m", "base_url": "http://m/v1", "quality": 0.9, "max_context": 100_000,
         "cost_per_1k_input": 0.01, "cost_per_1k_output": 0.01}])
    ledger = FrontierLedger(frontier, db, ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY":
                                                                            generate_master_key()})))
    dense = [Message(role="user", content="ж" * 2_000)]  # 2,000 characters, 4,000 UTF-8 bytes
    workspace = workspaces.create("dense", WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    plan = ledger.plan(workspace, dense, max_tokens=100)
    [candidate] = plan.candidates
    assert candidate.estimate.prompt_tokens < 1_000  # the typical guess
    admitted = await ledger.admit(workspace, "r", candidate, plan.prompt)
    worst = Usage(prompt_tokens=4_000, completion_tokens=100)
    reserved = admitted.reservation.amount_usd
    cost = await ledger.succeed(admitted, worst)
    assert cost.total_usd <= reserved


def held_errors(db):
    from sqlalchemy import select

    from router.storage.schema import reservations
    with db.read() as conn:
        return {row.provider: row.error for row in conn.execute(select(reservations.c.provider, reservations.c.error))}


async def test_a_failure_records_the_router_error_s_message_or_only_the_exception_s_type(db, ledger, workspaces):
    workspace = workspaces.create("a").workspace
    failures = {"cheap": TierUnavailable("cheap answered 502 Bad Gateway"),
                "premium": ConnectionError("http://user:sk-secret@p/v1 refused")}
    with pytest.raises(TierUnavailable):
        await serve(ledger, workspace, "r1", failures)
    # A foreign exception's text can hold a URL with credentials: only its type is kept.
    assert held_errors(db) == {"cheap": "cheap answered 502 Bad Gateway", "premium": "ConnectionError"}
    assert ledger.health.why_unavailable("cheap") == "down: cheap answered 502 Bad Gateway"
    assert ledger.health.why_unavailable("premium") is None  # an unknown failure is not proof it is down


async def test_a_rate_limited_provider_rests_for_its_retry_after_not_the_default(ledger, workspaces):
    workspace = workspaces.create("a").workspace
    ok = Usage(prompt_tokens=10, completion_tokens=1)
    assert FRONTIER.cooldown_s < 300
    await serve(ledger, workspace, "r1", {"cheap": RateLimited("slow down", retry_after=600), "premium": ok})
    assert ledger.health.cooldowns.remaining("cheap") > 590
    assert ledger.health.why_unavailable("premium") is None
