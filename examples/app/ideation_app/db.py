"""PostgreSQL access through PgBouncer (transaction pooling): schema-qualified names, no session
state, one short transaction per operation, each timed in db_query_duration_seconds{operation}.
psycopg2 is imported when first needed, so the rest of the app can be tested without it."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

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
    """One lazily opened connection per process, replaced after a connection error.
    `dbname` names another database on the same PgBouncer (its read-only entry)."""

    def __init__(self, settings: Settings, connect: Callable[..., Any] | None = None,
                 dbname: str = "") -> None:
        self._settings = settings
        self._connect = connect
        self._dbname = dbname
        self._conn: Any = None
        self._lock = threading.Lock()
        self.schema = settings.database_schema

    @property
    def dbname(self) -> str:
        """The database (PgBouncer entry) this connects to."""
        return self._dbname or self._settings.database_name

    def _new_connection(self) -> Any:
        if self._connect is None:
            import psycopg2

            self._connect = psycopg2.connect
        return self._connect(**self._settings.database_dsn(self._dbname))

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

    def cancel(self) -> None:
        """Ask the server to cancel what this connection runs (safe from another thread)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):
                conn.cancel()

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


# On a standby: 0 once it has replayed all the WAL it received (an idle primary sends nothing,
# and now() - the last replayed commit would grow for ever); else the age of the last replayed
# commit. On a server that is not a standby (no replica in this environment), no lag: NULL.
REPLICA_LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)

T = TypeVar("T")


def choose_read_target(lag: float | None, error: str | None, max_lag: float) -> tuple[str, str]:
    """Where reads go after a replica check: ("replica", "ok") or ("primary", reason).

    `error` is set when the check could not reach the replica ("unreachable"); `lag` is its lag
    in seconds (None: the read-only entry is not a standby, so nothing lags). Past `max_lag`
    the replica is "lagging". Exactly at the limit it still serves.
    """
    if error is not None:
        return "primary", "unreachable"
    if lag is not None and lag > max_lag:
        return "primary", "lagging"
    return "replica", "ok"


def _connection_errors() -> tuple[type[BaseException], ...]:
    import psycopg2

    # OperationalError covers a refused or dropped connection and a query cancelled by a
    # conflict with recovery on the standby; InterfaceError a connection already closed.
    return (psycopg2.OperationalError, psycopg2.InterfaceError)


class ReadRouter:
    """Sends read-only queries to the replica's connection, or to the primary when there is no
    read-only connection, when the replica's last check found it unreachable or lagging past
    `max_lag` seconds, or when a read on it fails to connect (then retried on the primary: reads
    have no side effects) or does not answer within `timeout` seconds. Checks at most every
    `check_interval` seconds. Fallbacks are counted in
    db_read_fallbacks_total{reason}, answers in db_reads_total{target}."""

    def __init__(self, primary: Database, replica: Database | None, max_lag: float,
                 check_interval: float, clock: Callable[[], float] = time.monotonic,
                 connection_errors: Callable[[], tuple[type[BaseException], ...]] =
                 _connection_errors, timeout: float = 5.0) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag = max_lag
        self.check_interval = check_interval
        self.timeout = timeout
        self._clock = clock
        self._connection_errors = connection_errors
        self._checked_at: float | None = None
        self._choice = ("replica", "ok")
        self._lock = threading.Lock()
        # PgBouncer keeps a client waiting for a server it cannot reach (up to its
        # query_wait_timeout) instead of failing it: the replica's work runs in a thread and is
        # given up after `timeout` seconds.
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "replica")

    def _on_replica(self, operation: str, query: Callable[[Any], T]) -> T:
        """`query(cursor)` on the replica; raises TimeoutError past `timeout` seconds."""
        assert self.replica is not None
        replica = self.replica

        def run() -> T:
            with replica.transaction(operation) as cursor:
                return query(cursor)

        future = self._pool.submit(run)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            replica.cancel()
            raise TimeoutError(f"no answer from the replica within {self.timeout:g} s") from None

    def _measure(self) -> tuple[float | None, str | None]:
        def query(cursor: Any) -> Any:
            cursor.execute(REPLICA_LAG_SQL)
            return cursor.fetchone()

        try:
            row = self._on_replica("replica_lag", query)
        except (TimeoutError, *self._connection_errors()) as error:
            return None, str(error).strip() or type(error).__name__
        lag = None if row is None or row[0] is None else float(row[0])
        assert self.replica is not None
        metrics.DB_REPLICA_LAG.labels(self.replica.dbname).set(lag or 0.0)
        return lag, None

    def choice(self) -> tuple[str, str]:
        """The current target and reason, checking the replica when the last check is old."""
        if self.replica is None:
            return "primary", "none"
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.check_interval:
                lag, error = self._measure()
                choice = choose_read_target(lag, error, self.max_lag)
                if choice != self._choice:
                    log.warning("read-only queries now go to the %s (%s%s)", choice[0], choice[1],
                                f": {error}" if error else f", lag {lag} s" if lag else "")
                self._choice, self._checked_at = choice, now
            return self._choice

    def _mark_unreachable(self) -> None:
        with self._lock:
            self._choice, self._checked_at = ("primary", "unreachable"), self._clock()

    def read(self, operation: str, query: Callable[[Any], T]) -> T:
        """Run `query(cursor)` on the chosen server and return its result."""
        target, reason = self.choice()
        if target == "replica" and self.replica is not None:
            try:
                result = self._on_replica(operation, query)
                metrics.read_served("replica")
                return result
            except (TimeoutError, *self._connection_errors()) as error:
                log.warning("read on the replica failed, retrying on the primary: %s", error)
                self._mark_unreachable()
                reason = "unreachable"
        if reason in metrics.READ_FALLBACK_REASONS:
            metrics.read_fell_back(reason)
        with self.primary.transaction(operation) as cursor:
            result = query(cursor)
        metrics.read_served("primary")
        return result


def read_router(settings: Settings, primary: Database) -> ReadRouter:
    """The router the settings describe: no replica connection without DATABASE_READ_NAME."""
    replica = Database(settings, dbname=settings.database_read_name) \
        if settings.database_read_name else None
    return ReadRouter(primary, replica, settings.database_read_max_lag,
                      settings.database_read_check_interval,
                      timeout=settings.database_read_timeout)


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
    """The IdeaStore of the running app. Listing and searching go through `reads` (the read
    replica when there is one); everything else to the primary."""

    def __init__(self, database: Database, reads: ReadRouter | None = None) -> None:
        self.db = database
        self.reads = reads or ReadRouter(database, None, 0, 0)

    def search(self, text: str, limit: int) -> list[Idea]:
        """The newest ideas, those whose title or description contains `text` when it is given."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        def query(cursor: Any) -> list[Idea]:
            cursor.execute(
                self.db._sql(
                    f"SELECT {_COLUMNS} FROM {{schema}}.ideas"
                    " WHERE %s = '' OR title ILIKE %s OR description ILIKE %s"
                    " ORDER BY created_at DESC LIMIT %s"
                ),
                (text, pattern, pattern, limit),
            )
            return [_idea(row) for row in cursor.fetchall()]

        return self.reads.read("search", query)

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
