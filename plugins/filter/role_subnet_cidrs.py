"""Jinja filter ideation.platform.role_subnet_cidrs: the subnets some instance roles run in."""

from __future__ import annotations

DOCUMENTATION = r"""
name: role_subnet_cidrs
author: ideation platform team
version_added: "0.1.0"
short_description: The CIDR blocks of the subnets that some roles' auto-scaling groups use
description:
  - Reads the subnets as ideation.platform.subnet_plan returns them and the auto-scaling groups
    (role name to a mapping with a C(tier)), and returns the CIDR blocks of the subnets of the
    tiers the named roles launch into, sorted by address and unique.
  - A role without a group, a group without a tier, or a tier without a subnet fails with a
    message naming it, so that a list built from it never comes out empty by mistake.
positional: asgs, roles
options:
  _input:
    description: The subnets, as ideation.platform.subnet_plan returns them.
    type: list
    elements: dict
    required: true
  asgs:
    description: The auto-scaling groups by role, each with a C(tier) (C(aws_asgs)).
    type: dict
    required: true
  roles:
    description: The roles whose subnets are wanted.
    type: list
    elements: str
    required: true
seealso:
  - plugin: ideation.platform.subnet_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The networks the monitoring and bastion hosts run in
  ansible.builtin.debug:
    msg: >-
      {{ network_vpc_cidr | ideation.platform.subnet_plan(network_tiers, network_zones)
         | ideation.platform.role_subnet_cidrs(aws_asgs, ['monitoring', 'bastion']) }}
"""

RETURN = r"""
_value:
  description: The CIDR blocks, sorted by address.
  type: list
  elements: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.role_networks import (
    role_subnet_cidrs as _role_subnet_cidrs,
)


def role_subnet_cidrs(subnets: Any, asgs: Any, roles: Any) -> list[str]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _role_subnet_cidrs(list(subnets), asgs, roles)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.role_subnet_cidrs: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"role_subnet_cidrs": role_subnet_cidrs}
