"""PostgreSQL access through PgBouncer (transaction pooling): schema-qualified names, no session
state, one short transaction per operation, each timed in db_query_duration_seconds{operation}.
psycopg2 is imported when first needed, so the rest of the app can be tested without it."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from . import metrics
from .config import Settings
from .ideas import Idea, NewIdea

log = logging.getLogger(__name__)

# Ordered migrations: (version, statements). Each runs once, in the transaction that records it.
# Keep them backward compatible (expand, then contract in a later release): during a deploy the
# old and the new version of the API run side by side against the migrated schema.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE IF NOT EXISTS {schema}.ideas (
               id uuid PRIMARY KEY,
               title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
               description text NOT NULL DEFAULT '',
               submitter text NOT NULL DEFAULT '',
               status text NOT NULL DEFAULT 'submitted'
                   CHECK (status IN ('submitted', 'processed')),
               word_count integer,
               keywords text[] NOT NULL DEFAULT '{{}}',
               created_at timestamptz NOT NULL DEFAULT now(),
               processed_at timestamptz
           )""",
        "CREATE INDEX IF NOT EXISTS ideas_status_created_idx"
        " ON {schema}.ideas (status, created_at)",
    ]),
]
# Any constant works; it only has to be the same for every copy of the app.
MIGRATION_LOCK = 0x1DEA7104


class SchemaMissingError(RuntimeError):
    """The schema the app needs does not exist (postgres_bootstrap creates it)."""


class Database:
    """One lazily opened connection per process, replaced after a connection error."""

    def __init__(self, settings: Settings, connect: Callable[..., Any] | None = None) -> None:
        self._settings = settings
        self._connect = connect
        self._conn: Any = None
        self._lock = threading.Lock()
        self.schema = settings.database_schema

    def _new_connection(self) -> Any:
        if self._connect is None:
            import psycopg2

            self._connect = psycopg2.connect
        return self._connect(**self._settings.database_dsn())

    @contextlib.contextmanager
    def transaction(self, operation: str) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on error; the
        connection is dropped when it broke, so the next call reconnects. The whole of it
        (connecting included) is timed as `operation`, one of metrics.DB_OPERATIONS."""
        with metrics.db_operation(operation), self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self._new_connection()
            conn = self._conn
            try:
                with conn.cursor() as cursor:
                    yield cursor
                conn.commit()
            except BaseException:
                try:
                    conn.rollback()
                except Exception:  # the connection itself is gone
                    log.debug("rollback failed; dropping the connection", exc_info=True)
                if getattr(conn, "closed", 0):
                    self._conn = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                self._conn.close()
            self._conn = None

    def ping(self) -> None:
        """Raise unless the database answers a query."""
        with self.transaction("ping") as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def _sql(self, statement: str) -> str:
        return statement.format(schema=f'"{self.schema}"')

    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, under a transaction-scoped advisory lock (safe
        through PgBouncer in transaction mode). Returns the versions applied now."""
        with self.transaction("migrate") as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,))
            if cursor.fetchone() is None:
                raise SchemaMissingError(
                    f"schema {self.schema!r} does not exist in the database; create it first "
                    "(ideation.platform.postgres_bootstrap) and grant the app user CREATE on it"
                )
            cursor.execute(self._sql(
                "CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
                " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            cursor.execute(self._sql("SELECT version FROM {schema}.schema_migrations"))
            done = {row[0] for row in cursor.fetchall()}
            applied = []
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    cursor.execute(self._sql(statement))
                cursor.execute(
                    self._sql("INSERT INTO {schema}.schema_migrations (version) VALUES (%s)"),
                    (version,),
                )
                applied.append(version)
            return applied


_COLUMNS = ("id, title, description, submitter, status, created_at, processed_at, word_count,"
            " keywords")


def _idea(row: tuple) -> Idea:
    idea_id, title, description, submitter, status, created, processed, words, keywords = row
    return Idea(
        id=uuid.UUID(str(idea_id)), title=title, description=description, submitter=submitter,
        status=status, created_at=created, processed_at=processed, word_count=words,
        keywords=list(keywords or []),
    )


class PostgresIdeaStore:
    """The IdeaStore of the running app."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def create(self, new: NewIdea) -> Idea:
        with self.db.transaction("create") as cursor:
            cursor.execute(
                self.db._sql(
                    "INSERT INTO {schema}.ideas (id, title, description, submitter)"
                    f" VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}"
                ),
                (str(uuid.uuid4()), new.title, new.description, new.submitter),
            )
            return _idea(cursor.fetchone())

    def get(self, idea_id: uuid.UUID) -> Idea | None:
        with self.db.transaction("get") as cursor:
            cursor.execute(
                self.db._sql(f"SELECT {_COLUMNS} FROM {{schema}}.ideas WHERE id = %s"),
                (str(idea_id),),
            )
            row = cursor.fetchone()
        return _idea(row) if row else None

    def mark_processed(self, idea_id: uuid.UUID, word_count: int, keywords: list[str]) -> bool:
        with self.db.transaction("mark_processed") as cursor:
            cursor.execute(
                self.db._sql(
                    "UPDATE {schema}.ideas SET status = 'processed', processed_at = now(),"
                    " word_count = %s, keywords = %s WHERE id = %s AND status = 'submitted'"
                ),
                (word_count, keywords, str(idea_id)),
            )
            return cursor.rowcount == 1

    def stale_submitted(self, older_than_seconds: int, limit: int) -> list[uuid.UUID]:
        with self.db.transaction("stale_submitted") as cursor:
            cursor.execute(
                self.db._sql(
                    "SELECT id FROM {schema}.ideas WHERE status = 'submitted'"
                    " AND created_at < now() - make_interval(secs => %s)"
                    " ORDER BY created_at LIMIT %s"
                ),
                (older_than_seconds, limit),
            )
            return [uuid.UUID(str(row[0])) for row in cursor.fetchall()]
