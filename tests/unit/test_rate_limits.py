"""Per-workspace rate limits: requests and tokens per fixed clock minute, shared across threads and processes."""

import threading

import pytest
from sqlalchemy import func, inspect, select

from router.core.errors import InvalidRequest, RateLimited
from router.frontier.rate_limits import RateLimiter, seconds_to_next_window, window_of
from router.storage.database import Database
from router.storage.schema import MIGRATIONS, rate_windows
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore, parse_settings
from tests.unit.ledger_worker import run_in_processes

MINUTE = 28_000_000  # an epoch minute; MINUTE * 60 is 2023-03-28 in UTC
START = MINUTE * 60.0


class Clock:
    def __init__(self, at: float = START) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def _workspace(db, name="alpha", **settings):
    return WorkspaceStore(db).create(name, WorkspaceSettings(**settings), with_api_key=False).workspace


def _rows(db) -> list[tuple[str, int, int, int]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(select(rate_windows).order_by(
            rate_windows.c.workspace_id, rate_windows.c.window_start))]


def test_requests_over_the_limit_get_429_until_the_next_minute(db):
    clock = Clock(START + 17.25)
    limiter, workspace = RateLimiter(db, clock=clock), _workspace(db, requests_per_minute=3)
    assert [limiter.admit(workspace, 5) for _ in range(3)] == [MINUTE] * 3
    with pytest.raises(RateLimited) as refused:
        limiter.admit(workspace, 5)
    error = refused.value
    assert (error.status_code, error.code, error.retry_after) == (429, "workspace_rate_limited", 43)  # 42.75 s, up
    assert error.headers() == {"retry-after": "43"}
    assert "workspace 'alpha' reached its requests_per_minute of 3 (3 requests admitted this minute)" in error.message
    assert "retry in 43 s" in error.message and "tokens_per_minute" not in error.message
    assert error.details == {"limits": ["requests_per_minute"]}
    assert limiter.used(workspace.id).model_dump() == {"workspace_id": workspace.id, "window_start": MINUTE,
                                                       "requests": 3, "tokens": 15}  # the refusal is not counted
    clock.at = START + 59.9  # the last tenth of a second still waits a whole second
    with pytest.raises(RateLimited) as late:
        limiter.admit(workspace, 5)
    assert late.value.retry_after == 1
    clock.at = START + 60  # the next minute starts from nothing
    assert limiter.admit(workspace, 5) == MINUTE + 1
    assert limiter.used(workspace.id).requests == 1


def test_the_tokens_limit_admits_up_to_exactly_the_limit(db):
    clock = Clock(START)
    limiter, workspace = RateLimiter(db, clock=clock), _workspace(db, tokens_per_minute=100)
    limiter.admit(workspace, 60)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(workspace, 50)
    error = refused.value
    assert (error.code, error.retry_after) == ("workspace_rate_limited", 60)
    assert error.details == {"limits": ["tokens_per_minute"]}
    assert ("workspace 'alpha' has 60 of its tokens_per_minute of 100 admitted this minute, "
            "and this request's estimated 50 tokens do not fit") in error.message
    assert "requests_per_minute" not in error.message
    limiter.admit(workspace, 40)  # 100 of 100: fits exactly
    with pytest.raises(RateLimited):
        limiter.admit(workspace, 1)
    limiter.admit(workspace, 0)  # a request estimated at nothing still fits under a full tokens limit
    assert (limiter.used(workspace.id).requests, limiter.used(workspace.id).tokens) == (3, 100)
    clock.at = START + 60
    limiter.admit(workspace, 100)


def test_a_refusal_names_both_limits_when_both_are_full(db):
    limiter = RateLimiter(db, clock=Clock())
    workspace = _workspace(db, requests_per_minute=1, tokens_per_minute=10)
    limiter.admit(workspace, 10)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(workspace, 1)
    assert refused.value.details == {"limits": ["requests_per_minute", "tokens_per_minute"]}
    assert "requests_per_minute of 1" in refused.value.message and "tokens_per_minute of 10" in refused.value.message


def test_settle_corrects_the_tokens_of_the_minute_the_request_was_admitted_in(db):
    clock = Clock(START + 59)
    limiter, workspace = RateLimiter(db, clock=clock), _workspace(db, tokens_per_minute=100)
    window = limiter.admit(workspace, 80)
    with pytest.raises(RateLimited):
        limiter.admit(workspace, 70)
    limiter.settle(workspace, window, 80, 30)  # the estimate was high: 50 tokens of room come back
    assert limiter.used(workspace.id).tokens == 30
    second = limiter.admit(workspace, 70)
    limiter.settle(workspace, second, 70, 95)  # it ran long: counted as used, even past the limit
    assert limiter.used(workspace.id).tokens == 125
    with pytest.raises(RateLimited):
        limiter.admit(workspace, 0)
    clock.at = START + 65  # settled after the minute ended: the minute it was admitted in moves, not this one
    third = limiter.admit(workspace, 20)
    limiter.settle(workspace, window, 500, 0)  # never below zero
    assert limiter.used(workspace.id, window).tokens == 0
    assert limiter.used(workspace.id).model_dump() == {"workspace_id": workspace.id, "window_start": third,
                                                       "requests": 1, "tokens": 20}
    limiter.settle(workspace, third - 10, 5, 1)  # a minute long deleted: nothing to correct, and no error
    with pytest.raises(ValueError, match="actual_tokens must be a whole number >= 0"):
        limiter.settle(workspace, third, 5, -1)


def test_a_request_bigger_than_the_tokens_limit_is_a_400_since_waiting_cannot_help(db):
    limiter, workspace = RateLimiter(db, clock=Clock()), _workspace(db, tokens_per_minute=100)
    with pytest.raises(InvalidRequest) as refused:
        limiter.admit(workspace, 101)
    error = refused.value
    assert not isinstance(error, RateLimited)
    assert (error.status_code, error.code) == (400, "over_tokens_per_minute")
    assert "estimated at 101 tokens" in error.message and "tokens_per_minute of 100" in error.message
    assert "can never be admitted" in error.message
    assert _rows(db) == []
    limiter.admit(workspace, 100)


class _NoDatabase:
    def __getattr__(self, name):
        raise AssertionError(f"the database was used ({name}) for a workspace with no limits")


def test_no_limits_touch_no_database(db):
    workspace = _workspace(db)
    limiter = RateLimiter(_NoDatabase(), clock=Clock(START + 30))  # type: ignore[arg-type]
    assert [limiter.admit(workspace, 10**9) for _ in range(5)] == [MINUTE] * 5
    limiter.settle(workspace, MINUTE, 10, 500)
    assert _rows(db) == []


def test_two_workspaces_are_counted_apart(db):
    limiter = RateLimiter(db, clock=Clock())
    one = _workspace(db, "one", requests_per_minute=2)
    two = _workspace(db, "two", requests_per_minute=2, tokens_per_minute=50)
    limiter.admit(one, 30)
    limiter.admit(one, 30)
    with pytest.raises(RateLimited, match="workspace 'one'"):
        limiter.admit(one, 1)
    limiter.admit(two, 25)
    limiter.admit(two, 25)
    assert _rows(db) == sorted([(one.id, MINUTE, 2, 60), (two.id, MINUTE, 2, 50)])  # ids are random


def test_old_windows_are_deleted_as_the_workspace_is_admitted(db):
    clock = Clock()
    limiter = RateLimiter(db, clock=clock)
    busy, quiet = _workspace(db, "busy", requests_per_minute=5), _workspace(db, "quiet", requests_per_minute=5)
    limiter.admit(quiet, 1)
    for minute in range(4):
        clock.at = START + 60 * minute + 1
        limiter.admit(busy, 1)
    # The busy workspace keeps this minute and the two before it; the quiet one's row waits for its next request.
    assert [(r[0], r[1]) for r in _rows(db)] == sorted([(busy.id, MINUTE + 1), (busy.id, MINUTE + 2),
                                                        (busy.id, MINUTE + 3), (quiet.id, MINUTE)])


@pytest.mark.parametrize("settings", [{"requests_per_minute": 10}, {"tokens_per_minute": 100}])
def test_fifty_concurrent_threads_against_a_limit_of_ten_admit_exactly_ten(db, settings):
    limiter, workspace = RateLimiter(db, clock=Clock()), _workspace(db, **settings)
    seen: list[str] = []
    lock, start = threading.Lock(), threading.Barrier(50)

    def one() -> None:
        start.wait()
        try:
            limiter.admit(workspace, 10)
            outcome = "admitted"
        except RateLimited:
            outcome = "refused"
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            outcome = repr(exc)
        with lock:
            seen.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(seen)) == ["admitted", "refused"]
    assert seen.count("admitted") == 10 and seen.count("refused") == 40
    assert _rows(db) == [(workspace.id, MINUTE, 10, 100)]


def test_two_processes_share_the_limit(db, db_url):
    workspace = _workspace(db, requests_per_minute=15)
    limiter = RateLimiter(db, clock=Clock(START + 5))
    for _ in range(3):
        limiter.admit(workspace, 10)
    results = run_in_processes("rate", db_url, workspace.id, "20", str(START + 5))
    assert sum(r["admitted"] for r in results) == 12
    assert sum(r["refused_429"] for r in results) == 28
    assert sum(r["other"] for r in results) == 0
    assert _rows(db) == [(workspace.id, MINUTE, 15, 150)]


async def test_async_twins(db):
    limiter, workspace = RateLimiter(db, clock=Clock()), _workspace(db, requests_per_minute=1, tokens_per_minute=50)
    window = await limiter.aadmit(workspace, 40)
    with pytest.raises(RateLimited):
        await limiter.aadmit(workspace, 1)
    await limiter.asettle(workspace, window, 40, 12)
    assert limiter.used(workspace.id).tokens == 12


def test_the_limits_are_read_from_the_workspace_at_each_call(db):
    limiter, store = RateLimiter(db, clock=Clock()), WorkspaceStore(db)
    workspace = _workspace(db, requests_per_minute=1)
    limiter.admit(workspace, 1)
    with pytest.raises(RateLimited):
        limiter.admit(workspace, 1)
    raised = store.update_settings(workspace.id, requests_per_minute=2)
    limiter.admit(raised, 1)
    limiter.admit(store.update_settings(workspace.id, requests_per_minute=None), 1)  # no limit: not counted
    assert limiter.used(workspace.id).requests == 2


def test_estimates_must_be_whole_numbers_not_below_zero(db):
    limiter, workspace = RateLimiter(db, clock=Clock()), _workspace(db, requests_per_minute=1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="estimated_tokens must be a whole number >= 0"):
            limiter.admit(workspace, bad)  # type: ignore[arg-type]
    assert _rows(db) == []


def test_the_settings_take_positive_whole_limits_or_none():
    assert (WorkspaceSettings().requests_per_minute, WorkspaceSettings().tokens_per_minute) == (None, None)
    assert parse_settings({"requests_per_minute": "60", "tokens_per_minute": "90000"}).tokens_per_minute == 90000
    for field in ("requests_per_minute", "tokens_per_minute"):
        for bad in (0, -5, True, 1.5, 10**9 + 1):
            with pytest.raises(InvalidRequest, match=field):
                parse_settings({field: bad})
    schema = WorkspaceSettings.model_json_schema()["properties"]
    assert "None: no limit" in schema["requests_per_minute"]["description"]
    assert "None: no limit" in schema["tokens_per_minute"]["description"]


def test_windows_are_fixed_clock_minutes():
    assert (window_of(START), window_of(START + 59.999), window_of(START + 60)) == (MINUTE, MINUTE, MINUTE + 1)
    assert [seconds_to_next_window(START + s) for s in (0, 0.5, 30, 59, 59.999)] == [60, 60, 30, 1, 1]


def test_the_rate_windows_migration_upgrades_an_older_database(db_url):
    db = Database(db_url, migrate=False)
    db.migrate(MIGRATIONS[:-1])
    assert "rate_windows" not in inspect(db.engine).get_table_names()
    assert db.migrate() == [MIGRATIONS[-1].version]
    assert MIGRATIONS[-1].name == "per-workspace rate windows"
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("rate_windows")}
    assert list(columns) == ["workspace_id", "window_start", "requests", "tokens"]
    assert inspect(db.engine).get_pk_constraint("rate_windows")["constrained_columns"] == ["workspace_id",
                                                                                          "window_start"]
    foreign = inspect(db.engine).get_foreign_keys("rate_windows")
    assert [(f["referred_table"], f["options"].get("ondelete")) for f in foreign] == [("workspaces", "CASCADE")]
    db.close()


def test_deleting_a_workspace_deletes_its_windows(db):
    from router.storage.schema import workspaces

    limiter, workspace = RateLimiter(db, clock=Clock()), _workspace(db, requests_per_minute=3)
    limiter.admit(workspace, 1)
    with db.write() as conn:
        conn.execute(workspaces.delete().where(workspaces.c.id == workspace.id))
        assert conn.scalar(select(func.count()).select_from(rate_windows)) == 0
