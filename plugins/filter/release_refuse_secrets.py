"""Jinja filter ideation.platform.release_refuse_secrets: no secret value in a release."""

from __future__ import annotations

DOCUMENTATION = r"""
name: release_refuse_secrets
author: ideation platform team
version_added: "0.1.0"
short_description: Fail on group_vars that hold a secret value
description:
  - O(_input) maps file names to their YAML text. Fails, listing every finding, when a file is
    vault-encrypted, holds a C(!vault) value or a private key, or holds a literal string under a
    key that names a secret (password, secret, token, credential, api_key, private_key,
    access_key, or a key ending in C(_key)). Such a key passes when its value is templated (a
    lookup resolved at converge time), when it names a reference (ends in C(_id), C(_name),
    C(_arn), C(_prefix), C(_path), C(_file), C(_days)), or when its value is not a string.
  - Returns the sorted file names when nothing is found (docs/releases.md).
options:
  _input:
    description: File name to YAML text.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse secret values
  ansible.builtin.assert:
    that: texts | ideation.platform.release_refuse_secrets | length == texts | length
"""

RETURN = r"""
_value:
  description: The file names, sorted.
  type: list
  elements: str
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import release as _release


def release_refuse_secrets(files: Any) -> list[str]:
    """Wrapper: findings become AnsibleFilterError naming the filter."""
    if not isinstance(files, Mapping):
        raise AnsibleFilterError("ideation.platform.release_refuse_secrets: expects a mapping")
    try:
        return _release.refuse_secrets({str(k): str(v) for k, v in files.items()})
    except ValueError as exc:
        raise AnsibleFilterError(f"ideation.platform.release_refuse_secrets: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"release_refuse_secrets": release_refuse_secrets}
