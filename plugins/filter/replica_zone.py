"""Jinja filter ideation.platform.replica_zone: where the read replica goes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: replica_zone
author: ideation platform team
version_added: "0.1.0"
short_description: The availability zone for the database's read replica
description:
  - The first of O(zones) that is not the primary's zone (O(_input)), so that losing one zone
    never takes both the primary and its replica.
  - Fails when O(zones) has no other zone.
positional: zones
options:
  _input:
    description: The primary's availability zone now.
    type: str
    required: true
  zones:
    description: The environment's availability zones (C(network_zones)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Place the replica
  ansible.builtin.debug:
    msg: "{{ 'us-east-1a' | ideation.platform.replica_zone(['us-east-1a', 'us-east-1b']) }}"
# us-east-1b
"""

RETURN = r"""
_value:
  description: The replica's availability zone.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.db_replica import (
    replica_zone as _replica_zone,
)


def replica_zone(primary_zone: Any, zones: Any) -> str:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _replica_zone(primary_zone, zones)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.replica_zone: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"replica_zone": replica_zone}
