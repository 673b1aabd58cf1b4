"""Jinja filter ideation.platform.asg_window_restore: put a group's minimum back after Standby."""

from __future__ import annotations

DOCUMENTATION = r"""
name: asg_window_restore
author: ideation platform team
version_added: "0.1.0"
short_description: The minimum size to put back on a group after a Standby window, if now
description:
  - Takes one group as amazon.aws.autoscaling_group_info returns it. A group with the tag
    C(ideation:standby-window-min-size) (a window patch.yml opened) gets its original minimum back
    once none of its instances is in Standby; while one is, the lowered minimum stays (AWS would
    otherwise raise the desired capacity and launch a replacement) and the reason says so.
  - Returns C(group), C(min_size) (the minimum to set, or null) and C(reason).
options:
  _input:
    description: One group from autoscaling_group_info's C(results).
    type: dict
    required: true
seealso:
  - plugin: ideation.platform.asg_standby_windows
    plugin_type: filter
"""

EXAMPLES = r"""
- name: What to put back
  ansible.builtin.debug:
    msg: "{{ _asg.results[0] | ideation.platform.asg_window_restore }}"
"""

RETURN = r"""
_value:
  description: C(group) (str), C(min_size) (int or null) and C(reason) (str).
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import asg_window


def asg_window_restore(group: Any) -> dict[str, Any]:
    """Wrapper: errors name the filter."""
    try:
        min_size, reason = asg_window.restore_size(dict(group))
        name = group["auto_scaling_group_name"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.asg_window_restore: {exc}") from None
    return {"group": name, "min_size": min_size, "reason": reason}


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"asg_window_restore": asg_window_restore}
