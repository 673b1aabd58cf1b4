"""Jinja filter ideation.platform.platform_outputs: provisioning's outputs, read from SSM (the
local cache as fallback)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: platform_outputs
author: ideation platform team
version_added: "0.1.0"
short_description: Provisioning's outputs, from the SSM parameter or else the local cache
description:
  - Takes the SSM parameter's value (as the amazon.aws.ssm_parameter lookup returns it; empty
    when the parameter is absent or could not be read) and the local cache file's text, and
    returns the outputs as a dictionary. SSM wins; the cache is used only when SSM gave
    nothing, with a warning. With neither, the filter fails with what to run.
positional: _input, cache
options:
  _input:
    description: The parameter's value, or an empty value.
    type: str
    required: true
  cache:
    description: The text of .cache/outputs/<env>.json, or an empty value.
    type: str
    required: true
  environment:
    description: The environment's name (for the messages).
    type: str
    required: true
  parameter:
    description: The parameter's name (for the messages).
    type: str
    required: true
  region:
    description: The AWS region (for the messages).
    type: str
    required: true
  cache_file:
    description: The cache file's path (for the messages).
    type: str
    required: true
seealso:
  - plugin: ideation.platform.platform_outputs_value
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The RDS endpoint provisioning recorded
  ansible.builtin.debug:
    msg: >-
      {{ (lookup('amazon.aws.ssm_parameter', '/ideation/prod/outputs',
                 on_missing='skip', errors='warn')
          | ideation.platform.platform_outputs(
              lookup('ansible.builtin.file', '.cache/outputs/prod.json', errors='ignore'),
              environment='prod', parameter='/ideation/prod/outputs', region='us-east-1',
              cache_file='.cache/outputs/prod.json')).database.address }}
"""

RETURN = r"""
_value:
  description: The outputs, as playbooks/provision/outputs.yml records them.
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display
from ansible_collections.ideation.platform.plugins.plugin_utils.platform_outputs import resolve

_display = Display()


def _text(value: Any) -> str:
    """A lookup's or a file's text; None, an undefined or an empty list as empty."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def platform_outputs(
    ssm: Any, cache: Any, environment: Any, parameter: Any, region: Any, cache_file: Any
) -> dict[str, Any]:
    """Wrapper: warns when the cache stands in for SSM; errors name the filter."""
    try:
        outputs, source = resolve(
            _text(ssm),
            _text(cache),
            environment=str(environment),
            parameter=str(parameter),
            region=str(region),
            cache_file=str(cache_file),
        )
    except ValueError as exc:
        raise AnsibleFilterError(f"ideation.platform.platform_outputs: {exc}") from None
    if source == "cache":
        _display.warning(
            f"Provisioning outputs of {environment} read from the local cache {cache_file}: SSM "
            f"parameter {parameter} gave nothing (absent, or unreadable). The cache may be stale; "
            f"provision.yml writes the parameter."
        )
    return outputs


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"platform_outputs": platform_outputs}
