"""The read replica's rules: its zone, and PgBouncer's read-only entry with the pool budget of
the primary kept (a host never opens more server connections to the primary than before)."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.db_replica import (
    pool_databases,
    replica_zone,
)
from hypothesis import given
from hypothesis import strategies as st

ZONES = ["us-east-1a", "us-east-1b"]


@pytest.mark.parametrize(
    ("primary", "expected"), [("us-east-1a", "us-east-1b"), ("us-east-1b", "us-east-1a")]
)
def test_the_replica_goes_to_the_zone_the_primary_is_not_in(primary: str, expected: str) -> None:
    assert replica_zone(primary, ZONES) == expected


def test_a_primary_outside_the_listed_zones_still_gets_a_listed_zone() -> None:
    assert replica_zone("us-east-1c", ZONES) == "us-east-1a"


@pytest.mark.parametrize(
    ("primary", "zones", "message"),
    [
        ("us-east-1a", ["us-east-1a"], "no zone other than the primary's us-east-1a"),
        ("us-east-1a", [], "non-empty list"),
        ("us-east-1a", "us-east-1b", "non-empty list"),
        ("", ZONES, "primary's availability zone is unknown"),
        (None, ZONES, "primary's availability zone is unknown"),
    ],
)
def test_no_other_zone_or_no_primary_zone_is_refused(
    primary: Any, zones: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replica_zone(primary, zones)


APP = [{"name": "ideation_db"}]


def test_without_a_read_only_name_the_entries_are_only_filled_in() -> None:
    assert pool_databases(APP, "", "", 5432, 20, 5, 5) == [
        {"name": "ideation_db", "pool_size": 20, "reserve_pool": 5}
    ]


def test_with_a_replica_the_read_only_entry_points_there_with_the_same_pool() -> None:
    assert pool_databases(APP, "ideation_ro", "db-ro.example.com", 5433, 20, 5, 5) == [
        {"name": "ideation_db", "pool_size": 20, "reserve_pool": 5},
        {
            "name": "ideation_ro",
            "dbname": "ideation_db",
            "host": "db-ro.example.com",
            "port": 5433,
            "pool_size": 20,
            "reserve_pool": 5,
        },
    ]


def test_without_a_replica_the_read_only_pool_is_carved_out_of_the_primarys() -> None:
    assert pool_databases(APP, "ideation_ro", "", 5432, 20, 5, 5) == [
        {"name": "ideation_db", "pool_size": 15, "reserve_pool": 5},
        {"name": "ideation_ro", "dbname": "ideation_db", "pool_size": 5, "reserve_pool": 0},
    ]


def test_the_read_only_entry_reads_the_first_entrys_database_and_mode() -> None:
    entries = pool_databases(
        [
            {
                "name": "app",
                "dbname": "ideation_db",
                "pool_mode": "session",
                "pool_size": 10,
                "reserve_pool": 2,
            },
            {"name": "other"},
        ],
        "app_ro",
        "replica",
        5432,
        20,
        5,
        5,
    )
    assert entries[-1] == {
        "name": "app_ro",
        "dbname": "ideation_db",
        "pool_mode": "session",
        "host": "replica",
        "port": 5432,
        "pool_size": 10,
        "reserve_pool": 2,
    }
    assert entries[1] == {"name": "other", "pool_size": 20, "reserve_pool": 5}


@pytest.mark.parametrize(
    ("databases", "name", "carved", "message"),
    [
        ([], "ideation_ro", 5, "pgbouncer_databases is empty"),
        ([{"dbname": "x"}], "ideation_ro", 5, "needs a name"),
        (APP, "ideation_db", 5, "'ideation_db' is already in pgbouncer_databases"),
        (APP, "ideation_ro", 20, "leaves nothing of ideation_db's pool of 20"),
        (APP, "ideation_ro", 0, "pgbouncer_read_only_pool_size must be at least 1"),
        ([{"name": "a", "pool_size": "many"}], "", 5, "pool_size of a must be a whole number"),
    ],
)
def test_bad_entries_are_refused_with_what_to_change(
    databases: Any, name: str, carved: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pool_databases(databases, name, "", 5432, 20, 5, carved)


def _to(entries: list[dict[str, Any]], replica: str) -> tuple[int, int]:
    on_replica = [e for e in entries if replica and e.get("host") == replica]
    primary = [e for e in entries if e not in on_replica]
    total = lambda es: sum(e["pool_size"] + e["reserve_pool"] for e in es)  # noqa: E731
    return total(primary), total(on_replica)


@given(
    pool=st.integers(2, 100),
    reserve=st.integers(0, 20),
    carved=st.integers(1, 99),
    replica=st.sampled_from(["", "db-ro.example.com"]),
)
def test_the_primary_never_gets_more_server_connections(
    pool: int, reserve: int, carved: int, replica: str
) -> None:
    """The fleet's budget at the primary (the pgbouncer preflight and the connection alarm count
    pgbouncer_databases as configured) holds with the read-only entry; a replica gets at most
    what the primary gets, and its parameter group (the primary's) has the same max_connections."""
    if not replica and carved >= pool:
        return
    before = _to(pool_databases(APP, "", "", 5432, pool, reserve, carved), "")[0]
    primary, on_replica = _to(
        pool_databases(APP, "ideation_ro", replica, 5432, pool, reserve, carved), replica
    )
    assert primary == before
    assert on_replica <= before
