"""Jinja filter ideation.platform.ratelimit_allowlist: the networks nginx never rate limits."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ratelimit_allowlist
author: ideation platform team
version_added: "0.1.0"
short_description: nginx's rate-limit allowlist, from some networks and some inventory groups' hosts
description:
  - Returns the input's CIDR blocks (loopback, an operator's extra networks) and the private
    address of every host of the inventory groups C(roles), each as a /32 or /128, unique and
    sorted by family and address.
  - A host's address is its C(private_ip_address) (what the aws_ec2 inventory sets), else its
    C(ansible_host), as the nginx role picks an API host's. A host without an IP address there,
    or an input that is not a CIDR block, fails with a message naming it. A group that is not in
    the inventory has no host.
  - The same rules (plugin_utils/upstream_sync.py) make the list on an nginx host that follows the
    auto-scaling groups instead (C(nginx_upstream_source=asg)).
positional: groups, hostvars, roles
options:
  _input:
    description: CIDR blocks always on the list.
    type: list
    elements: str
    required: true
  groups:
    description: The inventory's groups (C(groups)).
    type: dict
    required: true
  hostvars:
    description: The inventory's host variables (C(hostvars)).
    type: dict
    required: true
  roles:
    description: The groups whose hosts are on the list.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Loopback and the monitoring and bastion hosts
  ansible.builtin.debug:
    msg: >-
      {{ ['127.0.0.0/8', '::1/128']
         | ideation.platform.ratelimit_allowlist(groups, hostvars, ['monitoring', 'bastion']) }}
"""

RETURN = r"""
_value:
  description: The CIDR blocks, sorted (IPv4 first).
  type: list
  elements: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.upstream_sync import (
    allowlist_entries,
    inventory_addresses,
)


def ratelimit_allowlist(networks: Any, groups: Any, hostvars: Any, roles: Any) -> list[str]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return allowlist_entries(networks, inventory_addresses(groups, hostvars, roles))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.ratelimit_allowlist: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"ratelimit_allowlist": ratelimit_allowlist}
