"""Storage: migrations build the schema from nothing, are idempotent, ordered, and safe to repeat."""

import sqlite3
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect

from router.storage.database import (
    Database,
    StorageError,
    database_url,
    from_nusd,
    to_nusd,
)
from router.storage.schema import MIGRATIONS, Migration, metadata


def test_migrations_create_the_schema_from_empty(db_url):
    db = Database(db_url, migrate=False)
    assert db.schema_version() == 0
    assert db.migrate() == [m.version for m in MIGRATIONS]
    tables = set(inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= tables
    db.close()


def test_the_migrated_schema_matches_the_tables_the_code_queries(db):
    inspector = inspect(db.engine)
    for name, table in metadata.tables.items():
        assert {c["name"] for c in inspector.get_columns(name)} == {c.name for c in table.columns}, name


def test_migrating_again_changes_nothing(db_url):
    first = Database(db_url)
    assert first.migrate() == []
    second = Database(db_url)  # another replica starting on the same file
    assert second.schema_version() == MIGRATIONS[-1].version
    assert second.migrate() == []
    first.close()
    second.close()


def test_a_later_migration_is_applied_once_in_order(db_url):
    db = Database(db_url)
    extra = Table("notes", MetaData(), Column("id", Integer, primary_key=True), Column("text", String(10)))
    applied: list[int] = []

    def add_notes(conn):
        applied.append(2)
        extra.create(conn)

    migrations = (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "notes", add_notes))
    assert db.migrate(migrations) == [MIGRATIONS[-1].version + 1]
    assert db.migrate(migrations) == []
    assert applied == [2]
    assert "notes" in inspect(db.engine).get_table_names()
    # A router that knows fewer migrations than the database has refuses to run on it.
    with pytest.raises(StorageError, match="newer version"):
        db.migrate(MIGRATIONS)
    db.close()


def test_migration_versions_must_increase(db):
    noop = MIGRATIONS[0].apply
    with pytest.raises(StorageError, match="unique and increasing"):
        db.migrate((Migration(2, "b", noop), Migration(1, "a", noop)))


def test_sqlite_runs_in_wal_mode(db, tmp_path):
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_database_url_defaults_and_bare_paths(tmp_path):
    assert database_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert database_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    assert database_url(None, {"TIERED_ROUTER_DB": "sqlite:////srv/r.db"}) == "sqlite:////srv/r.db"
    assert database_url(None, {}).endswith("/.tiered-router/router.db")


def test_in_memory_sqlite_is_refused_because_each_connection_would_see_another_database():
    with pytest.raises(StorageError, match="file path"):
        Database("sqlite://")


def test_money_round_trips_exactly_and_rounds_up_by_default():
    assert from_nusd(to_nusd(Decimal("12.345678901"))) == Decimal("12.345678901")
    assert to_nusd(Decimal("0.0000000001")) == 1  # a tenth of a nano-dollar still counts
    assert to_nusd(Decimal("0.0000000001"), round_up=False) == 0
