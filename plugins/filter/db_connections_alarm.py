"""Jinja filter ideation.platform.db_connections_alarm: the pool alarm's threshold."""

from __future__ import annotations

DOCUMENTATION = r"""
name: db_connections_alarm
author: ideation platform team
version_added: "0.1.0"
short_description: Size the database connection alarm from what the fleet's PgBouncers can open
description:
  - The fleet's server connections at their fullest are the PgBouncer hosts (the O(roles)'
    auto-scaling groups at C(max_size)) times the server connections each opens (pool plus
    reserve of every database, as the pgbouncer role sizes them; see O(per_host)).
  - "The threshold is O(percent) of that, rounded down: RDS's C(DatabaseConnections) above it
    means the pools are nearly exhausted. Since O(percent) is below 100, the fleet at full pool
    crosses it (a threshold above what the fleet can open would never fire)."
  - Fails when the fleet does not fit O(_input) less O(headroom), the rule the pgbouncer role's
    preflight applies on the hosts, so provisioning refuses it first.
positional: asgs, percent, per_host
options:
  _input:
    description: The database's C(max_connections).
    type: int
    required: true
  asgs:
    description: "The auto-scaling groups, C({role: {max_size, ...}}) (C(aws_asgs))."
    type: dict
    required: true
  percent:
    description: Share of the fleet's server connections that alarms, above 0 and below 100.
    type: float
    required: true
  per_host:
    description:
      - Server connections one PgBouncer opens at most, or a mapping
        C({databases, pool_size, reserve_pool}) to compute it from
        (C(pgbouncer_databases), C(pgbouncer_default_pool_size), C(pgbouncer_reserve_pool_size)).
    type: raw
    required: true
  headroom:
    description: Connections kept free for operators, migrations and monitoring.
    type: int
    default: 0
  roles:
    description: The roles whose hosts run PgBouncer.
    type: list
    elements: str
    default: [api, celery]
"""

EXAMPLES = r"""
- name: Size the connection alarm
  ansible.builtin.set_fact:
    _alarm: >-
      {{ aws_rds.max_connections | ideation.platform.db_connections_alarm(aws_asgs, 90,
         {'databases': pgbouncer_databases, 'pool_size': 20, 'reserve_pool': 5}, headroom=10) }}
# prod (api and celery max_size 10 each, max_connections 600):
#   {hosts: 20, per_host: 25, fleet: 500, max_connections: 600, threshold: 450}
"""

RETURN = r"""
_value:
  description: The arithmetic, for the alarm and its description.
  type: dict
  contains:
    hosts: {description: PgBouncer hosts at the groups' maximum sizes., type: int}
    per_host: {description: Server connections per host., type: int}
    fleet: {description: Server connections the whole fleet can open., type: int}
    max_connections: {description: The database's max_connections., type: int}
    threshold: {description: The alarm's threshold (GreaterThanThreshold)., type: int}
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    POOL_ROLES,
    server_connections_per_host,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    db_connections_alarm as _db_connections_alarm,
)


def db_connections_alarm(
    max_connections: Any,
    asgs: Any,
    percent: Any,
    per_host: Any,
    headroom: Any = 0,
    roles: Any = POOL_ROLES,
) -> dict[str, int]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        if isinstance(per_host, Mapping):
            per_host = server_connections_per_host(
                per_host.get("databases") or [],
                per_host.get("pool_size"),
                per_host.get("reserve_pool"),
            )
        if not isinstance(asgs, Mapping):
            raise ValueError(f"asgs must be a mapping of groups, got {asgs!r}")
        return _db_connections_alarm(
            asgs, max_connections, percent, per_host, headroom, list(roles)
        )
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.db_connections_alarm: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"db_connections_alarm": db_connections_alarm}
