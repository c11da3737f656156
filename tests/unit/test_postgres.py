"""The same ledger on a real PostgreSQL (tests/conftest.py ``postgres_url``); skipped where there is none."""

import threading
import uuid
from decimal import Decimal

import pytest

from router.core.errors import BudgetExceeded
from router.frontier.budgets import BudgetLedger
from router.frontier.caps import DailyCaps
from router.storage.database import Database
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore


@pytest.fixture
def pg(postgres_url):
    database = Database(postgres_url)
    yield database
    database.close()


def test_migrations_budgets_and_caps_on_postgres(pg):
    assert pg.migrate() == []  # idempotent on a second run
    workspace = WorkspaceStore(pg).create(f"pg-{uuid.uuid4().hex[:8]}",
                                          WorkspaceSettings(monthly_budget_usd=Decimal("1"))).workspace
    ledger, outcomes, start = BudgetLedger(pg), [], threading.Barrier(20)

    def request(i: int) -> None:
        start.wait()
        try:
            ledger.settle(ledger.reserve(workspace, f"r{i}", "p", Decimal("0.25")).id, Decimal("0.25"))
            outcomes.append("ok")
        except BudgetExceeded:
            outcomes.append("402")

    threads = [threading.Thread(target=request, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert outcomes.count("ok") == 4 and outcomes.count("402") == 16
    provider = f"p-{uuid.uuid4().hex[:8]}"
    caps = DailyCaps(pg)
    assert caps.take(provider, aggregate_cap=None, provider_cap=1).allowed
    assert not caps.take(provider, aggregate_cap=None, provider_cap=1).allowed
