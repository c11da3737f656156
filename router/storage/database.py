"""The router's database: SQLAlchemy Core over a SQLite file (default) or PostgreSQL (by URL).

SQLite is opened in WAL mode (readers never block the one writer) with a busy timeout, so
several ingress replicas on one machine share one file. Python's sqlite3 driver starts its
own transactions lazily and as DEFERRED, which turns a read-then-write transaction into an
immediate "database is locked" when another writer is active; so we switch that off and
issue ``BEGIN`` ourselves, ``BEGIN IMMEDIATE`` for write transactions: the write lock is
taken up front, waiting out the busy timeout, and the transaction then runs alone.

Every store method is synchronous (callable from the CLI, threads and subprocesses);
``Database.run`` moves one onto a worker thread so the event loop never blocks on the
database. Each store offers ``a``-prefixed async twins built on it.
"""

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from router.core.errors import RouterError
from router.storage.schema import MIGRATIONS, Migration, schema_migrations

DB_ENV = "TIERED_ROUTER_DB"
DEFAULT_SQLITE_FILE = "~/.tiered-router/router.db"  # one place the CLI and every replica agree on
# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises migrations.
_PG_MIGRATION_LOCK = 0x7469657265640001

P = ParamSpec("P")
T = TypeVar("T")
Clock = Callable[[], datetime]

NANO = Decimal("0.000000001")


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_nusd(amount: Decimal, *, round_up: bool = True) -> int:
    """USD to integer nano-dollars; rounds up by default so a limit is never undercounted."""
    rounding = ROUND_CEILING if round_up else ROUND_HALF_EVEN
    return int((amount / NANO).to_integral_value(rounding=rounding))


def from_nusd(amount: int) -> Decimal:
    return (Decimal(amount) * NANO).normalize() if amount else Decimal(0)


def in_window(stmt: Any, at: Any, since: datetime | None, until: datetime | None) -> Any:
    """``stmt`` limited to rows whose ``at`` column (a UTC timestamp) lies in [since, until)."""
    if since is not None:
        stmt = stmt.where(at >= since.timestamp())
    if until is not None:
        stmt = stmt.where(at < until.timestamp())
    return stmt


class StorageError(RouterError):
    default_code = "storage_error"


def database_url(value: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """A SQLAlchemy URL from ``--db``, else ``$TIERED_ROUTER_DB``, else ~/.tiered-router/router.db; a bare path is SQLite."""
    environ = os.environ if environ is None else environ
    value = value or environ.get(DB_ENV) or DEFAULT_SQLITE_FILE
    if "://" in value:
        return value
    path = Path(value).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class Database:
    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, migrate: bool = True) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise StorageError("an in-memory SQLite database is one per connection; give a file path")
            self.engine: Engine = create_engine(
                parsed, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}
            )
            _tune_sqlite(self.engine, busy_timeout_s)
        elif self.dialect == "postgresql":
            self.engine = create_engine(parsed, pool_pre_ping=True)
        else:
            raise StorageError(f"unsupported database {self.dialect!r}: use a sqlite:/// file or postgresql:// URL")
        if migrate:
            self.migrate()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write: committed on success, rolled back on any exception."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def insert_ignoring_duplicates(self, table: Table, values: dict[str, Any]) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` in this database's dialect."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table).values(**values).on_conflict_do_nothing()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store call on a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def migrate(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
        """Apply the migrations not yet applied, in order; returns the versions applied now."""
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise StorageError(f"migration versions must be unique and increasing, got {versions}")
        applied_now: list[int] = []
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            schema_migrations.create(conn, checkfirst=True)
            done = set(conn.scalars(select(schema_migrations.c.version)))
            unknown = done - set(versions)
            if unknown:
                raise StorageError(
                    f"the database at {self.url} has schema versions {sorted(unknown)} this router does not know; "
                    "it was migrated by a newer version"
                )
            for migration in migrations:
                if migration.version in done:
                    continue
                migration.apply(conn)
                conn.execute(schema_migrations.insert().values(
                    version=migration.version, name=migration.name, applied_at=time.time()))
                applied_now.append(migration.version)
        return applied_now

    def schema_version(self) -> int:
        with self.read() as conn:
            if not inspect(conn).has_table(schema_migrations.name):
                return 0
            return conn.scalar(select(schema_migrations.c.version).order_by(schema_migrations.c.version.desc())) or 0

    def close(self) -> None:
        self.engine.dispose()


def _tune_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode, far fewer fsyncs
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
