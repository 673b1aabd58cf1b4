"""The rules of the database's read replica (design section 11: prod "Multi-AZ with read
replicas").

``replica_zone`` places the replica in a zone the primary is not in, so that losing one zone
leaves reads or the primary standing. ``pool_databases`` adds PgBouncer's read-only entry: at
the replica when there is one; at the primary otherwise, its pool then carved out of the first
database's so that the fleet's server connections to the primary do not grow.
No Ansible import: the filter wrappers turn ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import whole_number


def replica_zone(primary_zone: Any, zones: Any) -> str:
    """The first of ``zones`` that is not ``primary_zone`` (the primary's zone now).

    Raises ValueError when ``zones`` names no other zone: a replica beside its primary shares
    its fate, which is what the replica is there to avoid.
    """
    if isinstance(zones, str) or not isinstance(zones, Sequence) or not zones:
        raise ValueError(f"zones must be a non-empty list of availability zones, got {zones!r}")
    if not isinstance(primary_zone, str) or not primary_zone:
        raise ValueError(f"the primary's availability zone is unknown ({primary_zone!r})")
    others = [zone for zone in zones if zone != primary_zone]
    if not others:
        raise ValueError(
            f"no zone other than the primary's {primary_zone} among {list(zones)}: a read replica"
            " needs a second zone (network_zones)"
        )
    return str(others[0])


def pool_databases(
    databases: Sequence[Mapping[str, Any]],
    read_only_name: str,
    replica_host: str,
    replica_port: Any,
    pool_size: Any,
    reserve_pool: Any,
    carved_pool: Any,
) -> list[dict[str, Any]]:
    """PgBouncer's [databases] entries, each with its pool and reserve written out.

    ``databases`` are the configured entries (the first is the application's); with an empty
    ``read_only_name`` they are returned as they are, their sizes filled in. Otherwise an entry
    named ``read_only_name`` for the same database is added: with ``replica_host``, pointing
    there with the first entry's pool and reserve; without, pointing at the primary with a pool
    of ``carved_pool`` and no reserve, taken from the first entry's pool so that every host opens
    no more server connections to the primary than before.
    """
    if not databases:
        raise ValueError("pgbouncer_databases is empty: PgBouncer would pool nothing")
    default_pool = whole_number(pool_size, "pgbouncer_default_pool_size", 1)
    default_reserve = whole_number(reserve_pool, "pgbouncer_reserve_pool_size", 0)
    entries: list[dict[str, Any]] = []
    for database in databases:
        if not isinstance(database, Mapping) or not database.get("name"):
            raise ValueError(f"each pgbouncer_databases entry needs a name, got {database!r}")
        name = database["name"]
        entry = dict(database)
        entry["pool_size"] = whole_number(
            database.get("pool_size", default_pool), f"pool_size of {name}", 1
        )
        entry["reserve_pool"] = whole_number(
            database.get("reserve_pool", default_reserve), f"reserve_pool of {name}", 0
        )
        entries.append(entry)
    if not read_only_name:
        return entries
    if read_only_name in {entry["name"] for entry in entries}:
        raise ValueError(
            f"the read-only database {read_only_name!r} is already in"
            " pgbouncer_databases: pick another pgbouncer_read_only_database"
        )
    first = entries[0]
    read_only: dict[str, Any] = {
        "name": read_only_name,
        "dbname": first.get("dbname") or first["name"],
    }
    if first.get("pool_mode"):
        read_only["pool_mode"] = first["pool_mode"]
    if replica_host:
        read_only.update(
            host=replica_host,
            port=whole_number(replica_port, "the replica's port", 1),
            pool_size=first["pool_size"],
            reserve_pool=first["reserve_pool"],
        )
    else:
        carved = whole_number(carved_pool, "pgbouncer_read_only_pool_size", 1)
        if carved >= first["pool_size"]:
            raise ValueError(
                f"pgbouncer_read_only_pool_size {carved} leaves nothing of {first['name']}'s pool"
                f" of {first['pool_size']}: without a replica the read-only pool is carved out of"
                " it; lower pgbouncer_read_only_pool_size or raise the pool"
            )
        first["pool_size"] -= carved
        for key in ("host", "port"):
            if first.get(key):
                read_only[key] = first[key]
        read_only.update(pool_size=carved, reserve_pool=0)
    return [*entries, read_only]
