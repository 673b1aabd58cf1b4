"""Migrations and connection handling, against a scripted stand-in for psycopg2's connection
(the real database is exercised by the api and celery Molecule scenarios)."""

from __future__ import annotations

import pytest
from ideation_app.config import Settings
from ideation_app.db import MIGRATION_LOCK, MIGRATIONS, Database, SchemaMissingError


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self._rows: list[tuple] = []

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
    with pytest.raises(RuntimeError), database.transaction() as cursor:
        cursor.execute("SELECT 1")
        raise RuntimeError("application error")
    database.ping()
    assert len(server["connections"]) == 1
    assert server["connections"][0].rollbacks == 1
