"""Per-workspace rate limits (requests and tokens per minute), shared by every replica through the database.

The windows are fixed clock minutes, not sliding: minute ``m`` is the epoch seconds ``[60m, 60m + 60)``,
and one ``rate_windows`` row per workspace and minute counts the requests admitted in it and their
tokens. A new minute is a new row, so the count resets on the minute with nothing to schedule; the
price of fixed windows is that a burst straddling a boundary may see up to twice a limit within sixty
seconds, which is acceptable here and much cheaper than a log of timestamps.

Admitting a request is, in one write transaction: delete the workspace's rows more than two minutes
old (so the table stays small), insert the current minute's row if it is missing, then

    UPDATE rate_windows SET requests = requests + 1, tokens = tokens + :estimate
     WHERE workspace_id = :w AND window_start = :m AND requests < :rpm AND tokens <= :tpm - :estimate

which either applies whole or matches no row (see router/frontier/budgets.py for why that is atomic on
SQLite and PostgreSQL), so concurrent requests in any number of processes never admit past a limit.
A refusal is ``RateLimited`` (429) with ``retry_after`` the whole seconds until the next minute; a
request whose estimate alone exceeds ``tokens_per_minute`` is ``InvalidRequest`` (400), since waiting
cannot help it. ``admit`` returns the minute it counted the request in; ``settle`` later moves that
minute's tokens by the difference between the estimate and the real count, never below zero.

A workspace with neither limit set costs nothing: ``admit`` and ``settle`` then touch no database.
The limits are read from the workspace's settings at each call, so a changed limit applies at once.
"""

import math
import time
from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy import Connection, case, delete, select, update

from router.core.errors import InvalidRequest, RateLimited
from router.storage.database import Database
from router.storage.schema import rate_windows
from router.storage.workspaces import Workspace

EpochClock = Callable[[], float]

WINDOW_S = 60
# Rows of the current minute and the two before it are kept: a request settles in the minute it was
# admitted in, and one that took longer than that settles against nothing, which is harmless.
KEEP_MINUTES = 2


class RateWindow(BaseModel):
    """What one workspace was admitted in one clock minute."""

    workspace_id: str
    window_start: int  # epoch seconds // 60
    requests: int
    tokens: int


def window_of(epoch_s: float) -> int:
    """The clock minute (epoch seconds // 60) that a moment falls in."""
    return int(epoch_s // WINDOW_S)


def seconds_to_next_window(epoch_s: float) -> int:
    """Whole seconds from ``epoch_s`` until the next clock minute starts; at least 1."""
    return max(1, math.ceil((window_of(epoch_s) + 1) * WINDOW_S - epoch_s))


class RateLimiter:
    def __init__(self, db: Database, clock: EpochClock = time.time) -> None:
        self.db = db
        self._clock = clock

    def admit(self, workspace: Workspace, estimated_tokens: int) -> int:
        """Count one request of ``estimated_tokens`` tokens in the current minute, or refuse it.

        Returns the minute it was counted in, for ``settle``. Raises ``RateLimited`` (429) when the
        minute has no room left, ``InvalidRequest`` (400) when the estimate alone exceeds
        ``tokens_per_minute``.
        """
        _check_tokens("estimated_tokens", estimated_tokens)
        now = self._clock()
        window = window_of(now)
        rpm, tpm = workspace.settings.requests_per_minute, workspace.settings.tokens_per_minute
        if rpm is None and tpm is None:
            return window
        if tpm is not None and estimated_tokens > tpm:
            raise InvalidRequest(
                f"this request is estimated at {estimated_tokens} tokens, more than workspace {workspace.name!r} "
                f"may use in a whole minute (tokens_per_minute of {tpm}), so it can never be admitted: "
                "shorten the prompt or lower max_tokens",
                code="over_tokens_per_minute",
                details={"limit": "tokens_per_minute", "limit_value": tpm, "estimated_tokens": estimated_tokens},
            )
        with self.db.write() as conn:
            conn.execute(delete(rate_windows).where(rate_windows.c.workspace_id == workspace.id,
                                                    rate_windows.c.window_start < window - KEEP_MINUTES))
            conn.execute(self.db.insert_ignoring_duplicates(
                rate_windows, {"workspace_id": workspace.id, "window_start": window, "requests": 0, "tokens": 0}))
            stmt = update(rate_windows).where(
                rate_windows.c.workspace_id == workspace.id, rate_windows.c.window_start == window,
            ).values(requests=rate_windows.c.requests + 1, tokens=rate_windows.c.tokens + estimated_tokens)
            if rpm is not None:
                stmt = stmt.where(rate_windows.c.requests < rpm)
            if tpm is not None:
                stmt = stmt.where(rate_windows.c.tokens <= tpm - estimated_tokens)
            if conn.execute(stmt).rowcount == 1:
                return window
            requests, tokens = _window_row(conn, workspace.id, window) or (0, 0)
        retry_after = seconds_to_next_window(now)
        full: dict[str, str] = {}
        if rpm is not None and requests >= rpm:
            full["requests_per_minute"] = (f"workspace {workspace.name!r} reached its requests_per_minute of {rpm} "
                                           f"({requests} requests admitted this minute)")
        if tpm is not None and tokens + estimated_tokens > tpm:
            full["tokens_per_minute"] = (f"workspace {workspace.name!r} has {tokens} of its tokens_per_minute of "
                                         f"{tpm} admitted this minute, and this request's estimated "
                                         f"{estimated_tokens} tokens do not fit")
        if not full:  # PostgreSQL only: a settle made room between the UPDATE and this read
            full = {name: f"workspace {workspace.name!r} reached its {name} of {limit}"
                    for name, limit in (("requests_per_minute", rpm), ("tokens_per_minute", tpm)) if limit is not None}
        raise RateLimited(
            f"{'; '.join(full.values())}; retry in {retry_after} s, when the next minute starts",
            code="workspace_rate_limited",
            retry_after=retry_after,
            details={"limits": list(full)},
        )

    def settle(self, workspace: Workspace, window_start: int, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the tokens of the minute a request was admitted in by ``actual - estimated``, never below 0.

        Whatever the time is now: a request admitted at 12:00:59 and ended at 12:01:05 moves 12:00's count.
        """
        _check_tokens("estimated_tokens", estimated_tokens)
        _check_tokens("actual_tokens", actual_tokens)
        settings = workspace.settings
        delta = actual_tokens - estimated_tokens
        if delta == 0 or (settings.requests_per_minute is None and settings.tokens_per_minute is None):
            return
        corrected = rate_windows.c.tokens + delta
        with self.db.write() as conn:
            conn.execute(update(rate_windows).where(
                rate_windows.c.workspace_id == workspace.id, rate_windows.c.window_start == window_start,
            ).values(tokens=case((corrected < 0, 0), else_=corrected)))

    def used(self, workspace_id: str, window_start: int | None = None) -> RateWindow:
        """What a workspace was admitted in one minute (default: the current one); zeros if nothing was."""
        window = window_of(self._clock()) if window_start is None else window_start
        with self.db.read() as conn:
            row = _window_row(conn, workspace_id, window)
        requests, tokens = row if row is not None else (0, 0)
        return RateWindow(workspace_id=workspace_id, window_start=window, requests=requests, tokens=tokens)

    async def aadmit(self, workspace: Workspace, estimated_tokens: int) -> int:
        return await self.db.run(self.admit, workspace, estimated_tokens)

    async def asettle(self, workspace: Workspace, window_start: int, estimated_tokens: int,
                      actual_tokens: int) -> None:
        await self.db.run(self.settle, workspace, window_start, estimated_tokens, actual_tokens)


def _window_row(conn: Connection, workspace_id: str, window: int) -> tuple[int, int] | None:
    row = conn.execute(select(rate_windows.c.requests, rate_windows.c.tokens).where(
        rate_windows.c.workspace_id == workspace_id, rate_windows.c.window_start == window)).first()
    return None if row is None else (row.requests, row.tokens)


def _check_tokens(name: str, value: int) -> None:
    # A caller's bug, not the client's: a negative count would let a request take room back.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
