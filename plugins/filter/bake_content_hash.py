"""Jinja filter ideation.platform.bake_content_hash: what a role's bake is made of; logic in
plugin_utils/bake.py."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bake_content_hash
author: ideation platform team
version_added: "0.1.0"
short_description: The content hash of the roles a baked image is made from
description:
  - sha256 over every file of the roles O(_input) under O(roles_dir) that reaches a machine
    (Molecule scenarios, tests and READMEs left out), with O(extra) (docs/images.md).
  - A bake whose image carries the same hash, from the same base image, is reused.
options:
  _input:
    description: The collection roles baked into the image, in the order they run.
    type: list
    elements: str
    required: true
  roles_dir:
    description: The directory holding the roles (the collection's C(roles/)).
    type: path
    required: true
  extra:
    description: Anything else that decides the image's content (the entry points run).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Hash the roles of the bastion's bake
  ansible.builtin.set_fact:
    bastion_hash: "{{ ['common', 'bastion'] | ideation.platform.bake_content_hash(roles_dir) }}"
"""

RETURN = r"""
_value:
  description: The hash, 64 hexadecimal digits.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import bake as _bake


def bake_content_hash(roles: Any, roles_dir: Any, extra: Any = "") -> str:
    """Wrapper: bad input becomes AnsibleFilterError naming the filter."""
    try:
        if not isinstance(roles, list):
            raise ValueError(f"expects a list of role names, got {roles!r}")
        files = _bake.role_files(str(roles_dir), [str(r) for r in roles])
        return _bake.content_hash(files, str(extra))
    except (ValueError, OSError) as exc:
        raise AnsibleFilterError(f"ideation.platform.bake_content_hash: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"bake_content_hash": bake_content_hash}
