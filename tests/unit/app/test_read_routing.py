"""Read-only queries: the read replica when it answers and keeps up, the primary otherwise,
each fallback counted. Against scripted connections (the apptier Molecule scenario runs the same
against a real streaming replica)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest

pytest.importorskip("prometheus_client")

from ideation_app.config import Settings
from ideation_app.db import (
    REPLICA_LAG_SQL,
    Database,
    PostgresIdeaStore,
    ReadRouter,
    choose_read_target,
    read_router,
)
from ideation_app.metrics import REGISTRY


class UnreachableError(Exception):
    """Stands in for psycopg2.OperationalError."""


ROW = (
    str(uuid.uuid4()),
    "Trees",
    "Plant them",
    "",
    "submitted",
    dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    None,
    None,
    [],
)


class Server:
    """One PostgreSQL behind PgBouncer: answers the lag query and searches, or refuses."""

    def __init__(self, name: str, lag: float | None = None) -> None:
        self.name = name
        self.lag = lag
        self.up = True
        self.queries: list[str] = []

    def connect(self, **dsn):
        if not self.up:
            raise UnreachableError(f"could not connect to {self.name}")
        return Connection(self)


class Connection:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.closed = 0
        self._rows: list[tuple] = []

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql: str, params: tuple = ()) -> None:
        if not self.server.up:
            self.closed = 1
            raise UnreachableError("server closed the connection unexpectedly")
        self.server.queries.append(sql)
        self._rows = [(self.server.lag,)] if sql == REPLICA_LAG_SQL else [ROW]

    def fetchone(self):
        return self._rows[0]

    def fetchall(self):
        return list(self._rows)

    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        self.closed = 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counts() -> dict[str, float]:
    return {
        "replica": value("db_reads_total", target="replica"),
        "primary": value("db_reads_total", target="primary"),
        "unreachable": value("db_read_fallbacks_total", reason="unreachable"),
        "lagging": value("db_read_fallbacks_total", reason="lagging"),
    }


def delta(before: dict[str, float]) -> dict[str, float]:
    return {key: amount - before[key] for key, amount in counts().items() if amount != before[key]}


@pytest.fixture
def servers():
    return Server("primary"), Server("replica", lag=0.0)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(servers, clock):
    primary, replica = servers
    settings = Settings.from_env({})
    router = ReadRouter(
        Database(settings, connect=primary.connect),
        Database(settings, connect=replica.connect, dbname="ideation_ro"),
        max_lag=30,
        check_interval=5,
        clock=clock,
        connection_errors=lambda: (UnreachableError,),
    )
    return PostgresIdeaStore(router.primary, router)


def searches(server: Server) -> int:
    return sum("ILIKE" in sql for sql in server.queries)


@pytest.mark.parametrize(
    ("lag", "error", "expected"),
    [
        (0.0, None, ("replica", "ok")),
        (None, None, ("replica", "ok")),  # the read-only entry is no standby: nothing lags
        (30.0, None, ("replica", "ok")),  # at the limit it still serves
        (30.5, None, ("primary", "lagging")),
        (None, "connection refused", ("primary", "unreachable")),
        (0.0, "connection refused", ("primary", "unreachable")),
    ],
)
def test_the_choice(lag, error, expected):
    assert choose_read_target(lag, error, 30) == expected


def test_a_listing_goes_to_a_replica_that_keeps_up(store, servers):
    primary, replica = servers
    before = counts()
    assert [idea.title for idea in store.search("tree", 10)] == ["Trees"]
    assert (searches(replica), searches(primary)) == (1, 0)
    assert delta(before) == {"replica": 1}
    assert value("db_replica_lag_seconds", database="ideation_ro") == 0.0


def test_a_lagging_replica_sends_reads_to_the_primary_until_it_catches_up(store, servers, clock):
    primary, replica = servers
    replica.lag = 45.0
    before = counts()
    store.search("", 10)
    assert (searches(replica), searches(primary)) == (0, 1)
    assert delta(before) == {"primary": 1, "lagging": 1}
    assert value("db_replica_lag_seconds", database="ideation_ro") == 45.0
    replica.lag = 1.0
    store.search("", 10)  # the last check is still fresh: the primary again
    assert searches(primary) == 2
    clock.now += 5
    store.search("", 10)
    assert (searches(replica), searches(primary)) == (1, 2)


def test_a_stopped_replica_sends_reads_to_the_primary_and_back_when_it_returns(
    store, servers, clock
):
    primary, replica = servers
    store.search("", 10)
    replica.up = False
    answered = searches(primary)
    before = counts()
    # The check is fresh, so the read tries the replica, fails to connect, and is retried.
    assert [idea.title for idea in store.search("", 10)] == ["Trees"]
    assert delta(before) == {"primary": 1, "unreachable": 1}
    store.search("", 10)  # no second attempt on the replica until the next check
    assert delta(before) == {"primary": 2, "unreachable": 2}
    clock.now += 5
    store.search("", 10)  # the check cannot connect either
    assert delta(before) == {"primary": 3, "unreachable": 3}
    replica.up = True
    clock.now += 5
    store.search("", 10)
    assert delta(before) == {"primary": 3, "unreachable": 3, "replica": 1}
    assert (searches(replica), searches(primary)) == (2, answered + 3)


def test_the_lag_is_checked_once_per_interval(store, servers, clock):
    _, replica = servers
    for _ in range(3):
        store.search("", 10)
    assert replica.queries.count(REPLICA_LAG_SQL) == 1
    clock.now += 5
    store.search("", 10)
    assert replica.queries.count(REPLICA_LAG_SQL) == 2


def test_an_sql_error_on_the_replica_is_not_a_fallback(servers, clock):
    primary, replica = servers
    settings = Settings.from_env({})
    router = ReadRouter(
        Database(settings, connect=primary.connect),
        Database(settings, connect=replica.connect),
        30,
        5,
        clock,
        connection_errors=lambda: (UnreachableError,),
    )

    def broken(cursor):
        raise ValueError("column does not exist")

    before = counts()
    with pytest.raises(ValueError):
        router.read("search", broken)
    assert delta(before) == {}
    assert searches(primary) == 0


def test_without_a_read_name_reads_use_the_primary_and_count_no_fallback(servers):
    primary, _ = servers
    settings = Settings.from_env({})
    router = read_router(settings, Database(settings, connect=primary.connect))
    assert router.replica is None
    before = counts()
    PostgresIdeaStore(router.primary, router).search("", 10)
    assert delta(before) == {"primary": 1}


def test_the_read_only_connection_names_pgbouncers_read_only_entry():
    settings = Settings.from_env(
        {
            "DATABASE_READ_NAME": "ideation_ro",
            "DATABASE_READ_MAX_LAG": "12",
            "DATABASE_READ_CHECK_INTERVAL": "2",
        }
    )
    router = read_router(settings, Database(settings))
    assert (router.max_lag, router.check_interval) == (12, 2)
    assert settings.database_dsn("ideation_ro")["dbname"] == "ideation_ro"
    assert settings.database_dsn()["dbname"] == "ideation_db"
    url = Settings.from_env({"DATABASE_URL": "postgresql://u@h/ideation_db"})
    assert url.database_dsn("ideation_ro")["dbname"] == "ideation_ro"
    assert "dbname" not in url.database_dsn()


def test_search_text_is_a_parameter_with_its_wildcards_escaped(store):
    captured = []
    original = Connection.execute

    def spy(self, sql, params=()):
        captured.append(params)
        return original(self, sql, params)

    Connection.execute = spy
    try:
        store.search("50%_off", 5)
    finally:
        Connection.execute = original
    assert captured[-1] == ("50%_off", "%50\\%\\_off%", "%50\\%\\_off%", 5)


def test_a_replica_that_never_answers_is_given_up_after_the_timeout(servers, clock):
    """PgBouncer keeps a query for a server it cannot reach waiting (up to its
    query_wait_timeout): the read goes to the primary after the router's timeout instead."""
    primary, _ = servers
    release = threading.Event()
    hanging = Server("replica")

    class Hanging(Connection):
        def execute(self, sql: str, params: tuple = ()) -> None:
            release.wait(10)
            raise UnreachableError("query_wait_timeout")

        def cancel(self) -> None:
            release.set()

    hanging.connect = lambda **dsn: Hanging(hanging)  # type: ignore[method-assign]
    settings = Settings.from_env({})
    router = ReadRouter(
        Database(settings, connect=primary.connect),
        Database(settings, connect=hanging.connect, dbname="ideation_ro"),
        30,
        5,
        clock,
        connection_errors=lambda: (UnreachableError,),
        timeout=0.2,
    )
    before = counts()
    started = time.monotonic()
    assert [i.title for i in PostgresIdeaStore(router.primary, router).search("", 10)] == ["Trees"]
    assert time.monotonic() - started < 2
    assert router.choice() == ("primary", "unreachable")
    assert delta(before) == {"primary": 1, "unreachable": 1}
    assert release.wait(2), "the hanging query was not cancelled"


def test_the_read_timeout_is_a_setting():
    settings = Settings.from_env(
        {"DATABASE_READ_NAME": "ideation_ro", "DATABASE_READ_TIMEOUT": "2"}
    )
    assert read_router(settings, Database(settings)).timeout == 2
