"""Daily frontier caps, shared by every ingress replica through the database.

One row per UTC day and scope (``*`` for the pool as a whole, else a provider's name) holds
the calls made that day; a new day is a new row, so the count resets at UTC midnight with
nothing to schedule. Taking a call is a conditional ``UPDATE ... SET used = used + 1 WHERE
used < cap`` on both rows in one write transaction (see router/frontier/budgets.py for why that is
atomic on SQLite and PostgreSQL). A call that fails is given back, so the cap counts calls
that were answered or at least billed, not attempts.
"""

from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, select, update

from router.core.config import FrontierConfig, ProviderConfig
from router.storage.database import Clock, Database, utc_now
from router.storage.schema import cap_days

AGGREGATE = "*"


class CapDecision(BaseModel):
    """May this provider be called now; if not, which cap said no and what the pool should do."""

    allowed: bool
    provider: str
    day: str
    reason: str
    refused_by: Literal["provider", "aggregate"] | None = None
    fallback: Literal["next_provider", "lower_tier"] | None = None
    provider_used: int
    aggregate_used: int


def day_of(clock: Clock) -> str:
    return f"{clock():%Y-%m-%d}"


def _cap_text(cap: int | None) -> str:
    return "no cap" if cap is None else str(cap)


class DailyCaps:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock

    def take(self, provider: str, *, aggregate_cap: int | None, provider_cap: int | None) -> CapDecision:
        """Count one call to ``provider`` today if both caps allow it."""
        day = day_of(self._clock)
        with self.db.write() as conn:
            for scope in (AGGREGATE, provider):
                conn.execute(self.db.insert_ignoring_duplicates(cap_days, {"day": day, "scope": scope, "used": 0}))
            refused_by: Literal["provider", "aggregate"] | None = None
            if not self._increment(conn, day, AGGREGATE, aggregate_cap):
                refused_by = "aggregate"
            elif not self._increment(conn, day, provider, provider_cap):
                refused_by = "provider"
                self._decrement(conn, day, AGGREGATE)  # same transaction: nobody saw the aggregate move
            used = dict(conn.execute(select(cap_days.c.scope, cap_days.c.used).where(
                cap_days.c.day == day, cap_days.c.scope.in_((AGGREGATE, provider)))).tuples().all())
        provider_used, aggregate_used = used.get(provider, 0), used.get(AGGREGATE, 0)
        if refused_by == "aggregate":
            reason = (f"the frontier pool reached its daily cap of {aggregate_cap} calls for {day} (UTC); "
                      "falling back to a lower tier")
            fallback: Literal["next_provider", "lower_tier"] | None = "lower_tier"
        elif refused_by == "provider":
            reason = (f"provider {provider} reached its daily cap of {provider_cap} calls for {day} (UTC); "
                      "trying the next provider")
            fallback = "next_provider"
        else:
            reason = (f"provider {provider}: call {provider_used} of {_cap_text(provider_cap)} today, "
                      f"{aggregate_used} of {_cap_text(aggregate_cap)} for the pool")
            fallback = None
        return CapDecision(allowed=refused_by is None, provider=provider, day=day, reason=reason,
                           refused_by=refused_by, fallback=fallback, provider_used=provider_used,
                           aggregate_used=aggregate_used)

    def take_for(self, provider: ProviderConfig, frontier: FrontierConfig) -> CapDecision:
        return self.take(provider.name, aggregate_cap=frontier.daily_cap, provider_cap=provider.daily_cap)

    def give_back(self, decision: CapDecision) -> None:
        """Uncount a call that failed; on the day it was taken, whatever the time is now."""
        if not decision.allowed:
            return
        with self.db.write() as conn:
            self._decrement(conn, decision.day, decision.provider)
            self._decrement(conn, decision.day, AGGREGATE)

    def used(self, day: str | None = None) -> dict[str, int]:
        """Calls counted on a UTC day (default today): ``*`` for the pool, then each provider."""
        with self.db.read() as conn:
            return dict(conn.execute(select(cap_days.c.scope, cap_days.c.used).where(
                cap_days.c.day == (day or day_of(self._clock))).order_by(cap_days.c.scope)).tuples().all())

    @staticmethod
    def _increment(conn: Connection, day: str, scope: str, cap: int | None) -> bool:
        stmt = update(cap_days).where(cap_days.c.day == day, cap_days.c.scope == scope).values(used=cap_days.c.used + 1)
        if cap is not None:
            stmt = stmt.where(cap_days.c.used < cap)
        return conn.execute(stmt).rowcount == 1

    @staticmethod
    def _decrement(conn: Connection, day: str, scope: str) -> None:
        conn.execute(update(cap_days).where(
            cap_days.c.day == day, cap_days.c.scope == scope, cap_days.c.used > 0).values(used=cap_days.c.used - 1))

    async def atake_for(self, provider: ProviderConfig, frontier: FrontierConfig) -> CapDecision:
        return await self.db.run(self.take_for, provider, frontier)

    async def agive_back(self, decision: CapDecision) -> None:
        await self.db.run(self.give_back, decision)
