"""Jinja filter ideation.platform.pgbouncer_pool_databases: PgBouncer's [databases] entries."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pgbouncer_pool_databases
author: ideation platform team
version_added: "0.1.0"
short_description: PgBouncer's database entries, with the read-only entry for the replica
description:
  - Each entry of O(_input) with its C(pool_size) and C(reserve_pool) written out (the defaults
    filling what an entry does not set).
  - With a O(read_only_name), an entry of that name for the first entry's database is added. With
    a O(replica_host) it points there, with the first entry's pool and reserve. Without, it points
    at the primary with a pool of O(carved_pool) and no reserve, taken out of the first entry's
    pool, so that a host opens no more server connections to the primary than before.
positional: read_only_name, replica_host, replica_port, pool_size, reserve_pool, carved_pool
options:
  _input:
    description: The configured entries (C(pgbouncer_databases)); the first is the application's.
    type: list
    elements: dict
    required: true
  read_only_name:
    description: Name of the read-only entry; empty for none.
    type: str
    required: true
  replica_host:
    description: The replica's address; empty when there is no replica.
    type: str
    required: true
  replica_port:
    description: The replica's port.
    type: int
    required: true
  pool_size:
    description: The default pool size (C(pgbouncer_default_pool_size)).
    type: int
    required: true
  reserve_pool:
    description: The default reserve (C(pgbouncer_reserve_pool_size)).
    type: int
    required: true
  carved_pool:
    description: The read-only pool without a replica, taken from the first entry's pool.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Show the entries without a replica
  ansible.builtin.debug:
    msg: >-
      {{ [{'name': 'ideation_db'}]
         | ideation.platform.pgbouncer_pool_databases('ideation_ro', '', 5432, 20, 5, 5) }}
# [{name: ideation_db, pool_size: 15, reserve_pool: 5},
#  {name: ideation_ro, dbname: ideation_db, pool_size: 5, reserve_pool: 0}]
"""

RETURN = r"""
_value:
  description: >-
    The entries, C({name, dbname?, host?, port?, pool_size, reserve_pool, pool_mode?}) each.
  type: list
  elements: dict
"""

from collections.abc import Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.db_replica import pool_databases


def pgbouncer_pool_databases(
    databases: Any,
    read_only_name: Any,
    replica_host: Any,
    replica_port: Any,
    pool_size: Any,
    reserve_pool: Any,
    carved_pool: Any,
) -> list[dict[str, Any]]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        if isinstance(databases, (str, bytes)) or not isinstance(databases, Sequence):
            raise ValueError(f"pgbouncer_databases must be a list, got {databases!r}")
        return pool_databases(
            list(databases),
            str(read_only_name or ""),
            str(replica_host or ""),
            replica_port,
            pool_size,
            reserve_pool,
            carved_pool,
        )
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.pgbouncer_pool_databases: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"pgbouncer_pool_databases": pgbouncer_pool_databases}
