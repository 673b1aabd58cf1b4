"""Migrations and connection handling, against a scripted stand-in for psycopg2's connection
(the real database is exercised by the api and celery Molecule scenarios)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

pytest.importorskip("prometheus_client")

from ideation_app.config import Settings
from ideation_app.db import (
    MIGRATION_LOCK,
    MIGRATIONS,
    Database,
    PostgresIdeaStore,
    ReadRouter,
    SchemaMissingError,
)
from ideation_app.ideas import NewIdea
from ideation_app.metrics import DB_OPERATIONS, REGISTRY

IDEA_ID = uuid.UUID("0b8f2a4c-5d6e-4f70-8a9b-0c1d2e3f4a5b")
IDEA_ROW = (str(IDEA_ID), "Trees", "", "", "submitted", dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            None, None, [])


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self._rows: list[tuple] = []
        self.rowcount = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.conn.statements.append((" ".join(sql.split()), params))
        if self.conn.fail_with is not None:
            self.conn.closed = 1
            raise self.conn.fail_with
        if "FROM pg_namespace" in sql:
            self._rows = [(1,)] if self.conn.schema_exists else []
        elif sql.startswith('SELECT version FROM "ideation".schema_migrations'):
            self._rows = [(v,) for v in sorted(self.conn.versions)]
        elif sql.startswith('INSERT INTO "ideation".schema_migrations'):
            self.conn.pending.add(params[0])
        elif "RETURNING id, title" in sql or sql.startswith("SELECT id, title"):
            self._rows = [IDEA_ROW]
        elif sql.startswith('SELECT id FROM "ideation".ideas'):
            self._rows = [(str(IDEA_ID),)]
        elif sql.startswith('UPDATE "ideation".ideas'):
            self.rowcount = 1
        else:
            self._rows = [(1,)]

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)


class FakeConnection:
    def __init__(self, versions: set[int], schema_exists: bool = True) -> None:
        self.versions = versions
        self.pending: set[int] = set()
        self.schema_exists = schema_exists
        self.statements: list[tuple[str, tuple]] = []
        self.closed = 0
        self.commits = 0
        self.rollbacks = 0
        self.fail_with: Exception | None = None

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.versions |= self.pending
        self.pending = set()
        self.commits += 1

    def rollback(self):
        self.pending = set()
        self.rollbacks += 1

    def close(self):
        self.closed = 1


@pytest.fixture
def server():
    """The database's state, shared by every connection a test opens."""
    return {"versions": set(), "schema_exists": True, "connections": []}


@pytest.fixture
def database(server):
    def connect(**dsn):
        assert dsn["host"] == "127.0.0.1" and dsn["connect_timeout"] == 3
        conn = FakeConnection(server["versions"], server["schema_exists"])
        server["connections"].append(conn)
        return conn

    return Database(Settings.from_env({}), connect=connect)


def test_migrate_applies_each_version_once_under_a_transaction_lock(database, server):
    assert database.migrate() == [version for version, _ in MIGRATIONS]
    assert database.migrate() == []
    conn = server["connections"][0]
    assert conn.statements[0] == ("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    created = [sql for sql, _ in conn.statements if sql.startswith("CREATE TABLE IF NOT EXISTS")]
    assert created.count('CREATE TABLE IF NOT EXISTS "ideation".schema_migrations ( version '
                         'integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())') == 2
    assert sum('"ideation".ideas (' in sql for sql in created) == 1
    assert conn.commits == 2


def test_migrate_refuses_to_run_without_the_schema(database, server):
    server["schema_exists"] = False
    with pytest.raises(SchemaMissingError, match="schema 'ideation' does not exist"):
        database.migrate()
    assert server["versions"] == set()
    assert server["connections"][0].rollbacks == 1


def test_a_broken_connection_is_replaced_on_the_next_call(database, server):
    database.ping()
    first = server["connections"][0]
    first.fail_with = ConnectionError("server closed the connection unexpectedly")
    with pytest.raises(ConnectionError):
        database.ping()
    database.ping()
    assert len(server["connections"]) == 2
    assert server["connections"][1].statements == [("SELECT 1", ())]


def test_an_error_in_a_transaction_rolls_it_back_and_keeps_the_connection(database, server):
    with pytest.raises(RuntimeError), database.transaction("ping") as cursor:
        cursor.execute("SELECT 1")
        raise RuntimeError("application error")
    database.ping()
    assert len(server["connections"]) == 1
    assert server["connections"][0].rollbacks == 1


def timed(operation: str) -> float:
    """How many times db_query_duration_seconds observed `operation` in this process."""
    return REGISTRY.get_sample_value("db_query_duration_seconds_count",
                                     {"operation": operation}) or 0.0


def test_every_database_operation_is_timed_under_its_own_name(database):
    store = PostgresIdeaStore(database)
    before = {operation: timed(operation) for operation in DB_OPERATIONS}
    calls = {
        "ping": database.ping,
        "migrate": database.migrate,
        "create": lambda: store.create(NewIdea("Trees")),
        "get": lambda: store.get(IDEA_ID),
        "mark_processed": lambda: store.mark_processed(IDEA_ID, 1, ["trees"]),
        "stale_submitted": lambda: store.stale_submitted(300, 10),
        "search": lambda: store.search("trees", 10),
        "replica_lag": lambda: ReadRouter(database, database, 30, 5).choice(),
    }
    assert set(calls) == DB_OPERATIONS
    for operation, call in calls.items():
        call()
        assert timed(operation) == before[operation] + 1, operation
    assert store.get(IDEA_ID).title == "Trees"
    assert timed("get") == before["get"] + 2
    buckets = [s for m in REGISTRY.collect() if m.name == "db_query_duration_seconds"
               for s in m.samples if s.name.endswith("_bucket")]
    assert {s.labels["operation"] for s in buckets} >= DB_OPERATIONS
    assert "0.001" in {s.labels["le"] for s in buckets}  # finer than the default buckets


def test_a_failed_operation_is_timed_too(database, server):
    database.ping()
    server["connections"][0].fail_with = ConnectionError("server closed the connection")
    before = timed("ping")
    with pytest.raises(ConnectionError):
        database.ping()
    assert timed("ping") == before + 1


def test_an_unknown_operation_name_is_refused_before_any_query(database, server):
    with pytest.raises(ValueError, match="unknown operation 'SELECT 1'"), \
            database.transaction("SELECT 1"):
        pass
    assert server["connections"] == []
