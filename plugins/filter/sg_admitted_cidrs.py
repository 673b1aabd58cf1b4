"""Jinja filter ideation.platform.sg_admitted_cidrs: what a rendered group admits on a port."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sg_admitted_cidrs
author: ideation platform team
version_added: "0.1.0"
short_description: The CIDR blocks a security group admits on a TCP port, the world excluded
description:
  - Reads the security groups as ideation.platform.sg_rules renders them and returns the CIDR
    blocks of the named group's ingress rules that cover the TCP port (or all protocols),
    without 0.0.0.0/0 and ::/0, sorted and unique. An unknown group admits nothing.
positional: group, port
options:
  _input:
    description: The security groups, as ideation.platform.sg_rules returns them.
    type: list
    elements: dict
    required: true
  group:
    description: The group's name.
    type: str
    required: true
  port:
    description: The TCP port.
    type: int
    required: true
seealso:
  - plugin: ideation.platform.sg_rules
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The networks the bastion admits on SSH
  ansible.builtin.debug:
    msg: >-
      {{ network_security_groups | ideation.platform.sg_rules
         | ideation.platform.sg_admitted_cidrs('bastion', 22) }}
"""

RETURN = r"""
_value:
  description: The CIDR blocks, sorted.
  type: list
  elements: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_query import admitted_cidrs


def sg_admitted_cidrs(groups: Any, group: Any, port: Any) -> list[str]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return admitted_cidrs(list(groups), str(group), int(port))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.sg_admitted_cidrs: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"sg_admitted_cidrs": sg_admitted_cidrs}
