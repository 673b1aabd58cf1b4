"""Jinja filter ideation.platform.release_collection_sources; logic in plugin_utils/release.py."""

from __future__ import annotations

DOCUMENTATION = r"""
name: release_collection_sources
author: ideation platform team
version_added: "0.1.0"
short_description: Where the collections a release carries are installed on the controller
description:
  - Given the output of C(ansible-galaxy collection list --format json) and the dependencies of
    C(galaxy.yml), returns each dependency's installed directory, the first in search order, so
    that a release carries the versions the controller runs (docs/releases.md). Fails naming
    every dependency that is not installed.
positional: dependencies
options:
  _input:
    description: The parsed C(ansible-galaxy collection list --format json).
    type: dict
    required: true
  dependencies:
    description: The collections to find (a list, or galaxy.yml's dependencies mapping).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Copy the dependencies into the release
  ansible.builtin.command:
    argv: [cp, -rT, "{{ item.value }}", "{{ stage }}/{{ item.key | replace('.', '/') }}"]
  loop: >-
    {{ listing | ideation.platform.release_collection_sources(galaxy.dependencies)
       | dict2items }}
"""

RETURN = r"""
_value:
  description: Installed directory by fully qualified collection name.
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import release as _release

_NAME = "ideation.platform.release_collection_sources"


def release_collection_sources(listing: Any, dependencies: Any) -> dict[str, str]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    if not isinstance(listing, dict):
        raise AnsibleFilterError(f"{_NAME}: expects the collection listing as a dict")
    if not isinstance(dependencies, (dict, list)):
        raise AnsibleFilterError(f"{_NAME}: dependencies must be a list or a dict")
    try:
        return _release.collection_sources(listing, dependencies)
    except ValueError as exc:
        raise AnsibleFilterError(f"{_NAME}: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"release_collection_sources": release_collection_sources}
