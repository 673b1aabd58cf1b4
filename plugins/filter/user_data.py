"""Jinja filter ideation.platform.user_data: launch template user data; logic in plugin_utils."""

from __future__ import annotations

DOCUMENTATION = r"""
name: user_data
author: ideation platform team
version_added: "0.1.0"
short_description: Launch template user data, gzip-compressed and base64-encoded
description:
  - Compresses the text O(_input) with gzip (cloud-init recognises gzip user data) without a
    timestamp, so that the same text gives the same launch template version, and encodes it with
    base64 as C(amazon.aws.ec2_launch_template) takes it (docs/boot.md).
  - Fails when the compressed payload exceeds EC2's limit of 16 KB.
options:
  _input:
    description: The user data (a cloud-config document or a script).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: A launch template with cloud-config user data
  amazon.aws.ec2_launch_template:
    template_name: example
    user_data: >-
      {{ lookup('ansible.builtin.template', 'user-data.yml.j2') | ideation.platform.user_data }}
"""

RETURN = r"""
_value:
  description: The base64 text of the gzip-compressed user data.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import user_data as _user_data


def user_data(text: Any) -> str:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _user_data.encode_user_data(str(text))
    except ValueError as exc:
        raise AnsibleFilterError(f"ideation.platform.user_data: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"user_data": user_data}
