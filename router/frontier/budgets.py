"""Budgets that concurrent requests cannot overspend, across replicas and processes.

Per request: ``reserve`` the estimated maximum before generating, then ``settle`` with the
real cost, or ``release`` on failure. A reservation is one conditional UPDATE:

    UPDATE budget_months SET reserved = reserved + :amount
     WHERE workspace = :w AND month = :m AND spent + reserved + :amount <= :budget

which either applies whole or matches no row. On SQLite every write transaction is
``BEGIN IMMEDIATE`` (one writer at a time, see router/storage/database.py); on PostgreSQL a concurrent
UPDATE of the same row waits for the first to commit and then re-checks the WHERE clause
against the new row, so neither database lets two requests take the same last dollar. The
month is the calendar month in UTC; the budget itself is read from the workspace's settings
at reservation time, so a raised budget applies to the next request.

Every reservation is kept with its outcome (settled, released with the error, or refused),
so failed and refused requests are on record. If the real cost exceeds the reservation (an
approximate prompt count ran low), the real cost is recorded all the same: it was spent.
"""

import re
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import func, select, update

from router.core.errors import BudgetExceeded, InvalidRequest
from router.frontier.pricing import CostEstimate
from router.storage.database import Clock, Database, from_nusd, to_nusd, utc_now
from router.storage.schema import budget_months, reservations
from router.storage.workspaces import Workspace, WorkspaceSettings

HELD, SETTLED, RELEASED, REFUSED = "held", "settled", "released", "refused"


class Reservation(BaseModel):
    id: str
    workspace_id: str
    month: str
    request_id: str
    provider: str
    amount_usd: Decimal


class SpendSummary(BaseModel):
    workspace_id: str
    month: str
    spent_usd: Decimal
    reserved_usd: Decimal
    budget_usd: Decimal | None
    remaining_usd: Decimal | None
    settled_requests: int
    failed_requests: int
    refused_requests: int
    in_flight_requests: int


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def month_of(clock: Clock) -> str:
    return f"{clock():%Y-%m}"


def check_month(month: object) -> str:
    """``month`` if it is a calendar month as ``YYYY-MM`` (01-12), else ``InvalidRequest``."""
    if isinstance(month, str) and _MONTH.fullmatch(month):
        return month
    shown = repr(month) if not isinstance(month, str) or len(month) <= 32 else repr(month[:32] + "...")
    raise InvalidRequest(f"month must be YYYY-MM with MM 01-12, e.g. 2026-01; got {shown}",
                         code="invalid_month", param="month")


def request_cap_error(settings: WorkspaceSettings, needed: Decimal, provider: str | None = None) -> BudgetExceeded:
    cap = settings.max_cost_per_request_usd
    where = f" on {provider}" if provider else ""
    return BudgetExceeded(
        f"this request could cost up to ${needed}{where}, over the workspace's max_cost_per_request_usd of ${cap}",
        details={"limit": "max_cost_per_request_usd", "limit_usd": str(cap), "requested_usd": str(needed)},
    )


def within_request_cap(settings: WorkspaceSettings, estimates: Sequence[CostEstimate]) -> list[CostEstimate]:
    """The estimates (in the given order) whose maximum fits the per-request cap.

    Empty while some estimate exists means every provider on this tier is too dear: try a
    lower tier, else raise ``request_cap_error(settings, min(e.max_cost_usd ...))``.
    """
    cap = settings.max_cost_per_request_usd
    return [e for e in estimates if cap is None or e.max_cost_usd <= cap]


class BudgetLedger:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock

    def reserve(self, workspace: Workspace, request_id: str, provider: str, amount_usd: Decimal) -> Reservation:
        """Hold ``amount_usd`` of the workspace's month; ``BudgetExceeded`` (402) naming the limit if it does not fit."""
        settings = workspace.settings
        if settings.max_cost_per_request_usd is not None and amount_usd > settings.max_cost_per_request_usd:
            self._record_refusal(workspace.id, request_id, provider, amount_usd, "max_cost_per_request_usd")
            raise request_cap_error(settings, amount_usd, provider)
        month, amount = month_of(self._clock), to_nusd(amount_usd)
        budget = None if settings.monthly_budget_usd is None else to_nusd(settings.monthly_budget_usd, round_up=False)
        reservation_id = "rsv_" + uuid.uuid4().hex
        with self.db.write() as conn:
            conn.execute(self.db.insert_ignoring_duplicates(
                budget_months, {"workspace_id": workspace.id, "month": month, "spent_nusd": 0, "reserved_nusd": 0}))
            take = update(budget_months).where(
                budget_months.c.workspace_id == workspace.id, budget_months.c.month == month,
            ).values(reserved_nusd=budget_months.c.reserved_nusd + amount)
            if budget is not None:
                take = take.where(budget_months.c.spent_nusd + budget_months.c.reserved_nusd + amount <= budget)
            taken = conn.execute(take).rowcount == 1
            state = HELD if taken else REFUSED
            conn.execute(reservations.insert().values(
                id=reservation_id, workspace_id=workspace.id, month=month, request_id=request_id, provider=provider,
                amount_nusd=amount, state=state, created_at=time.time(),
                error=None if taken else "monthly_budget_usd", closed_at=None if taken else time.time()))
            used = None if taken else conn.execute(select(
                budget_months.c.spent_nusd + budget_months.c.reserved_nusd).where(
                budget_months.c.workspace_id == workspace.id, budget_months.c.month == month)).scalar_one()
        if not taken:
            assert used is not None and budget is not None
            available = max(Decimal(0), from_nusd(budget - used))
            raise BudgetExceeded(
                f"the workspace's monthly_budget_usd of ${settings.monthly_budget_usd} for {month} cannot cover this "
                f"request: ${from_nusd(used)} is spent or reserved and it could cost up to ${amount_usd}",
                details={"limit": "monthly_budget_usd", "limit_usd": str(settings.monthly_budget_usd),
                         "requested_usd": str(amount_usd), "available_usd": str(available), "month": month},
            )
        return Reservation(id=reservation_id, workspace_id=workspace.id, month=month, request_id=request_id,
                           provider=provider, amount_usd=amount_usd)

    def settle(self, reservation_id: str, cost_usd: Decimal) -> bool:
        """Replace the hold with the real cost; False if it was already settled or released."""
        return self._close(reservation_id, SETTLED, cost=to_nusd(cost_usd), error=None)

    def release(self, reservation_id: str, error: str) -> bool:
        """Give the hold back after a failed call, recording why; False if already closed."""
        return self._close(reservation_id, RELEASED, cost=0, error=error[:2000])

    def _close(self, reservation_id: str, state: str, *, cost: int, error: str | None) -> bool:
        with self.db.write() as conn:
            # Conditional on HELD first, so a settle racing a release (or a retry) closes it once.
            closed = conn.execute(update(reservations).where(
                reservations.c.id == reservation_id, reservations.c.state == HELD,
            ).values(state=state, cost_nusd=cost, error=error, closed_at=time.time())).rowcount == 1
            if not closed:
                return False
            row = conn.execute(select(reservations.c.workspace_id, reservations.c.month, reservations.c.amount_nusd)
                               .where(reservations.c.id == reservation_id)).one()
            conn.execute(update(budget_months).where(
                budget_months.c.workspace_id == row.workspace_id, budget_months.c.month == row.month,
            ).values(reserved_nusd=budget_months.c.reserved_nusd - row.amount_nusd,
                     spent_nusd=budget_months.c.spent_nusd + cost))
        return True

    def release_stale(self, older_than_s: float) -> int:
        """Release holds older than this (their process died mid-call); returns how many."""
        cutoff = time.time() - older_than_s
        with self.db.read() as conn:
            stale = list(conn.scalars(select(reservations.c.id).where(
                reservations.c.state == HELD, reservations.c.created_at < cutoff)))
        return sum(self.release(rid, "abandoned: no outcome recorded in time") for rid in stale)

    def spend(self, workspace: Workspace, month: str | None = None) -> SpendSummary:
        """The month's spend (``YYYY-MM``, UTC; None: this month); ``InvalidRequest`` for a malformed month."""
        month = month_of(self._clock) if month is None else check_month(month)
        with self.db.read() as conn:
            row = conn.execute(select(budget_months.c.spent_nusd, budget_months.c.reserved_nusd).where(
                budget_months.c.workspace_id == workspace.id, budget_months.c.month == month)).first()
            counts = dict(conn.execute(select(reservations.c.state, func.count()).where(
                reservations.c.workspace_id == workspace.id, reservations.c.month == month,
            ).group_by(reservations.c.state)).tuples().all())
        spent, reserved = (from_nusd(row.spent_nusd), from_nusd(row.reserved_nusd)) if row else (Decimal(0), Decimal(0))
        budget = workspace.settings.monthly_budget_usd
        return SpendSummary(
            workspace_id=workspace.id, month=month, spent_usd=spent, reserved_usd=reserved, budget_usd=budget,
            remaining_usd=None if budget is None else max(Decimal(0), budget - spent - reserved),
            settled_requests=counts.get(SETTLED, 0), failed_requests=counts.get(RELEASED, 0),
            refused_requests=counts.get(REFUSED, 0), in_flight_requests=counts.get(HELD, 0),
        )

    def _record_refusal(self, workspace_id: str, request_id: str, provider: str, amount_usd: Decimal,
                        limit: str) -> None:
        now = time.time()
        with self.db.write() as conn:
            conn.execute(reservations.insert().values(
                id="rsv_" + uuid.uuid4().hex, workspace_id=workspace_id, month=month_of(self._clock),
                request_id=request_id, provider=provider, amount_nusd=to_nusd(amount_usd), state=REFUSED,
                error=limit, created_at=now, closed_at=now))

    async def areserve(self, workspace: Workspace, request_id: str, provider: str, amount_usd: Decimal) -> Reservation:
        return await self.db.run(self.reserve, workspace, request_id, provider, amount_usd)

    async def asettle(self, reservation_id: str, cost_usd: Decimal) -> bool:
        return await self.db.run(self.settle, reservation_id, cost_usd)

    async def arelease(self, reservation_id: str, error: str) -> bool:
        return await self.db.run(self.release, reservation_id, error)

    async def aspend(self, workspace: Workspace, month: str | None = None) -> SpendSummary:
        return await self.db.run(self.spend, workspace, month)
