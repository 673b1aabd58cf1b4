"""Jinja filter ideation.platform.asg_standby_windows: patch.yml's Standby window per group."""

from __future__ import annotations

DOCUMENTATION = r"""
name: asg_standby_windows
author: ideation platform team
version_added: "0.1.0"
short_description: Whether each tier's auto-scaling group can put a batch in Standby, and how
description:
  - Takes the results of a looped amazon.aws.autoscaling_group_info (one item per tier, the item
    being the tier as C(key) and the group's name as C(value)) and the batch size per tier.
  - Returns C(windows), one per tier, with C(window_min), the minimum size to set for the window
    when desired capacity minus the batch goes below the group's minimum (AWS refuses Standby
    otherwise), else null, and C(restore_min), the minimum to put back afterwards (the tag
    C(ideation:standby-window-min-size) of an interrupted run, else the group's minimum); and
    C(problems), the reasons not to start (a group not found, an instance not InService, a batch
    larger than the group).
positional: batches
options:
  _input:
    description: The C(results) of the looped autoscaling_group_info task.
    type: list
    elements: dict
    required: true
  batches:
    description: Hosts per batch, by tier.
    type: dict
    required: true
seealso:
  - plugin: ideation.platform.asg_window_restore
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Plan the windows
  ansible.builtin.set_fact:
    plan: "{{ _asgs.results | ideation.platform.asg_standby_windows({'api': 1, 'nginx': 1}) }}"
"""

RETURN = r"""
_value:
  description: C(windows) (list of dict) and C(problems) (list of str).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import asg_window


def asg_standby_windows(results: Any, batches: Any) -> dict[str, Any]:
    """Wrapper: the looped results become the rule's mappings; errors name the filter."""
    try:
        done = [r for r in results if not r.get("skipped")]
        found = {r["item"]["key"]: r.get("results") or [] for r in done}
        names = {r["item"]["key"]: r["item"]["value"] for r in done}
        sizes = {str(tier): int(size) for tier, size in dict(batches).items() if tier in found}
        windows, problems = asg_window.standby_windows(found, names, sizes)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.asg_standby_windows: {exc}") from None
    return {"windows": [w.as_dict() for w in windows], "problems": problems}


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"asg_standby_windows": asg_standby_windows}
