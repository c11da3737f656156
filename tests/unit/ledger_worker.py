"""A second process for the cross-process ledger tests: ``python -m tests.unit.ledger_worker JOB URL ...``.

JOB is ``caps``, ``budget`` or ``rate`` (see the function of that name for its arguments).

It prints one JSON line describing what it saw; the test adds up both processes' lines.
"""

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_in_processes(*args: str, processes: int = 2) -> list[dict[str, int]]:
    """Start ``processes`` workers at once with ``args`` (JOB URL ...) and return what each saw."""
    workers = [subprocess.Popen([sys.executable, "-m", "tests.unit.ledger_worker", *args], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for w in workers:
        out, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
        results.append(json.loads(out))
    return results


def caps(url: str, attempts: int) -> dict[str, int]:
    from router.frontier.caps import DailyCaps
    from router.storage.database import Database

    caps = DailyCaps(Database(url))
    seen = {"a": 0, "b": 0, "lower_tier": 0}
    for _ in range(attempts):
        decision = caps.take("a", aggregate_cap=12, provider_cap=7)
        if not decision.allowed and decision.fallback == "next_provider":
            decision = caps.take("b", aggregate_cap=12, provider_cap=None)
        if decision.allowed:
            seen[decision.provider] += 1
        else:
            assert decision.fallback == "lower_tier", decision
            seen["lower_tier"] += 1
    return seen


def budget(url: str, workspace_id: str, threads: int) -> dict[str, int]:
    from router.core.errors import BudgetExceeded
    from router.frontier.budgets import BudgetLedger
    from router.storage.database import Database
    from router.storage.workspaces import WorkspaceStore

    db = Database(url)
    workspace = WorkspaceStore(db).get(workspace_id)
    ledger = BudgetLedger(db)

    def one(i: int) -> str:
        try:
            held = ledger.reserve(workspace, f"req-{i}", "p", Decimal("0.10"))
            ledger.settle(held.id, Decimal("0.10"))
            return "ok"
        except BudgetExceeded as exc:
            return "refused_402" if exc.status_code == 402 and exc.code == "budget_exceeded" else "other"

    return _race(threads, one, {"ok": 0, "refused_402": 0, "other": 0})


def rate(url: str, workspace_id: str, threads: int, now: float) -> dict[str, int]:
    from router.core.errors import RateLimited
    from router.frontier.rate_limits import RateLimiter
    from router.storage.database import Database
    from router.storage.workspaces import WorkspaceStore

    db = Database(url)
    workspace = WorkspaceStore(db).get(workspace_id)
    limiter = RateLimiter(db, clock=lambda: now)  # one fixed moment: a minute boundary cannot split the count

    def one(_: int) -> str:
        try:
            limiter.admit(workspace, 10)
            return "admitted"
        except RateLimited as exc:
            return "refused_429" if exc.status_code == 429 and exc.code == "workspace_rate_limited" else "other"

    return _race(threads, one, {"admitted": 0, "refused_429": 0, "other": 0})


def _race(threads: int, attempt: Callable[[int], str], seen: dict[str, int]) -> dict[str, int]:
    """Run ``attempt(i)`` on ``threads`` threads released together; count each outcome it names."""
    lock, start = threading.Lock(), threading.Barrier(threads)

    def one(i: int) -> None:
        start.wait()
        try:
            outcome = attempt(i)
        except Exception:  # noqa: BLE001 - counted and asserted zero by the test
            outcome = "other"
        with lock:
            seen[outcome] += 1

    workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return seen


if __name__ == "__main__":
    job, url, *rest = sys.argv[1:]
    if job == "caps":
        print(json.dumps(caps(url, int(rest[0]))))
    elif job == "rate":
        print(json.dumps(rate(url, rest[0], int(rest[1]), float(rest[2]))))
    else:
        print(json.dumps(budget(url, rest[0], int(rest[1]))))
