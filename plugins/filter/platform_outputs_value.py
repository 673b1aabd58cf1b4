"""Jinja filter ideation.platform.platform_outputs_value: provisioning's outputs as the value of
their SSM parameter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: platform_outputs_value
author: ideation platform team
version_added: "0.1.0"
short_description: Provisioning's outputs as the value of their SSM parameter
description:
  - Serialises the outputs as compact JSON with sorted keys, so that an unchanged environment
    gives the same value and a second provisioning run changes nothing.
  - Fails, naming the size, when the text is longer than an SSM Standard parameter holds
    (4,096 characters).
options:
  _input:
    description: The outputs, as playbooks/provision/outputs.yml gathers them (with C(environment)).
    type: dict
    required: true
seealso:
  - plugin: ideation.platform.platform_outputs
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Publish the outputs
  community.aws.ssm_parameter:
    name: /ideation/prod/outputs
    value: "{{ outputs | ideation.platform.platform_outputs_value }}"
"""

RETURN = r"""
_value:
  description: The JSON text.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.platform_outputs import (
    parameter_value,
)


def platform_outputs_value(outputs: Any) -> str:
    """Wrapper: errors name the filter."""
    try:
        return parameter_value(outputs)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.platform_outputs_value: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"platform_outputs_value": platform_outputs_value}
