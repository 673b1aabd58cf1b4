"""Jinja filter ideation.platform.runbook_batch_sizes: hosts per batch, as `serial` takes them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: runbook_batch_sizes
author: ideation platform team
version_added: "0.1.0"
short_description: Hosts per batch for each tier, from a number or a percentage
description:
  - For each tier of the input, the batch size Ansible's C(serial) makes of it for a tier of the
    given size; a percentage rounds down and is at least one host; never more than the tier has,
    0 for an empty tier. An input that is neither a positive number nor a percentage fails.
positional: counts
options:
  _input:
    description: The batch size by tier, a number or a percentage such as C(25%).
    type: dict
    required: true
  counts:
    description: The number of hosts by tier, or the hosts (an inventory's C(groups)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Batch sizes
  ansible.builtin.debug:
    msg: "{{ {'api': '25%', 'nginx': 1} | ideation.platform.runbook_batch_sizes(groups) }}"
"""

RETURN = r"""
_value:
  description: Hosts per batch by tier.
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import asg_window


def runbook_batch_sizes(serials: Any, counts: Any) -> dict[str, int]:
    """Wrapper: errors name the filter."""
    try:
        return asg_window.batch_sizes(dict(serials), dict(counts))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"ideation.platform.runbook_batch_sizes: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"runbook_batch_sizes": runbook_batch_sizes}
