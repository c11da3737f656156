"""The tables of the router's database and the ordered migrations that create them.

Why our own migrations table rather than alembic: the schema is a handful of tables, and
every ingress replica runs ``migrate()`` when it starts, several at once. Alembic would add
an ini file, an ``env.py`` and Mako at run time, and still leave concurrent upgrades to us.
Here a migration is a numbered function; ``migrate()`` takes the database's write lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), applies the versions not
yet recorded in ``schema_migrations`` in order, records each, and commits, so it is
idempotent and safe to run from every process.

Money is stored as integer nano-dollars (``BigInteger``): SQLite has no exact decimal type
(SQLAlchemy's ``Numeric`` round-trips it through float), and integer arithmetic inside a
conditional ``UPDATE`` is exact on every backend. 1e-9 USD is finer than any per-token
price; the largest value is about 9.2 billion dollars.

The table objects below are the *current* shape, used by the queries. A later change adds
a migration that alters the database and edits the table here; a test checks that the
migrated schema matches these tables.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", Float, nullable=False),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # Keyed hash of the API key (see router/storage/workspaces.py); NULL: no key (the local workspace).
    Column("key_hash", String(128), unique=True),
    Column("key_hint", String(32), nullable=False, default=""),
    Column("settings", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

provider_keys = Table(
    "provider_keys",
    metadata,
    Column("workspace_id", String(64), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("provider", String(200), primary_key=True),
    Column("ciphertext", Text, nullable=False),  # Fernet token; never the key in clear
    Column("updated_at", Float, nullable=False),
)

budget_months = Table(
    "budget_months",
    metadata,
    Column("workspace_id", String(64), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM, UTC
    Column("spent_nusd", BigInteger, nullable=False, default=0),
    Column("reserved_nusd", BigInteger, nullable=False, default=0),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workspace_id", String(64), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("provider", String(200), nullable=False),
    Column("amount_nusd", BigInteger, nullable=False),
    Column("cost_nusd", BigInteger),
    Column("state", String(16), nullable=False),  # held | settled | released
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("closed_at", Float),
    Index("ix_reservations_workspace_month", "workspace_id", "month"),
)

cap_days = Table(
    "cap_days",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("scope", String(200), primary_key=True),  # "*" for all providers together, else a provider name
    Column("used", Integer, nullable=False, default=0),
)

# One row per workspace and clock minute: what router/frontier/rate_limits.py admitted in it. Rows more than
# two minutes old are deleted as the workspace's next request is admitted, so the table stays small.
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("workspace_id", String(64), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("window_start", Integer, primary_key=True, autoincrement=False),  # epoch seconds // 60
    Column("requests", Integer, nullable=False, default=0),
    Column("tokens", Integer, nullable=False, default=0),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace_id", String(64), nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("from_tier", Integer, nullable=False),
    Column("to_tier", Integer),
    Column("reason", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_escalations_workspace_at", "workspace_id", "at"),
    Index("ix_escalations_request", "request_id"),
)


# One row per request that reached the router (answered, refused, failed or cancelled): the telemetry.
routing_decisions = Table(
    "routing_decisions",
    metadata,
    Column("id", String(64), primary_key=True),  # the decision id; request ids come from callers, so may repeat
    Column("request_id", String(200), nullable=False),
    Column("workspace_id", String(64)),  # NULL: it ended before the workspace was known
    Column("agent_id", String(128)),
    Column("channel", String(16), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("streamed", Integer, nullable=False, default=0),
    Column("requested_tier", Integer),
    Column("tier", Integer),  # the tier that answered; NULL: none did
    Column("tier_path", String(64), nullable=False, default=""),  # "1,2,3": every tier tried, in order
    Column("provider", String(200)),
    Column("model", String(200)),
    Column("command", String(200)),
    Column("classifier", String(16)),
    Column("escalation_kinds", String(400), nullable=False, default=""),  # "disagreement,error"
    Column("escalation_reasons", Text, nullable=False, default="[]"),  # JSON list of the reasons' words
    Column("confidence", Float),
    Column("complexity", Float),
    Column("routing_score", Float),
    Column("escalation_score", Float),
    Column("self_quality", Float),
    Column("agreement", Float),
    Column("latency_ms", Float, nullable=False),
    Column("tier1_ms", Float),
    Column("tier2_ms", Float),
    Column("tier3_ms", Float),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("cost_nusd", BigInteger),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("http_status", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_routing_decisions_at", "at"),
    Index("ix_routing_decisions_workspace_at", "workspace_id", "at"),
    Index("ix_routing_decisions_request", "request_id"),
)

# What the caller said of an answer: one row per (workspace, request); a later word replaces an earlier.
feedback = Table(
    "feedback",
    metadata,
    Column("workspace_id", String(64), primary_key=True),
    Column("request_id", String(200), primary_key=True),
    Column("score", Float, nullable=False),  # 0-1; "good" is 1, "bad" is 0
    Column("comment", Text),
    Column("at", Float, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    for table in (workspaces, provider_keys, budget_months, reservations, cap_days, escalations):
        table.create(conn, checkfirst=True)


def _telemetry(conn: Connection) -> None:
    for table in (routing_decisions, feedback):
        table.create(conn, checkfirst=True)


def _rate_windows(conn: Connection) -> None:
    rate_windows.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "workspaces, keys, budgets, caps, escalations", _initial),
    Migration(2, "routing telemetry and feedback", _telemetry),
    Migration(3, "per-workspace rate windows", _rate_windows),
)
