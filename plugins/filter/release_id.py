"""Jinja filter ideation.platform.release_id: the id of a release; logic in plugin_utils."""

from __future__ import annotations

DOCUMENTATION = r"""
name: release_id
author: ideation platform team
version_added: "0.1.0"
short_description: The id of a release built at a time from a commit
description:
  - Returns C(<UTC time as %Y%m%dT%H%M%SZ>-<first 12 hex digits of the commit>), for example
    C(20261206T113336Z-9d465a0c1b2e); ids sort by build time (docs/releases.md).
  - With O(check=true), returns O(_input) if it is already such an id, and fails otherwise
    (how the release pointer refuses a malformed id).
positional: commit
options:
  _input:
    description: The build time, ISO 8601 with a time zone; or a release id with O(check=true).
    type: str
    required: true
  commit:
    description: The git commit the release was built from (7 to 40 hex digits).
    type: str
  check:
    description: Validate O(_input) as a release id instead of making one.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Name the release
  ansible.builtin.set_fact:
    release_id: "{{ '2026-12-06T11:33:36Z' | ideation.platform.release_id(commit) }}"
"""

RETURN = r"""
_value:
  description: The release id.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import release as _release


def release_id(created: Any, commit: Any = None, check: bool = False) -> str:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        if check:
            return _release.check_release_id(created)
        return _release.release_id(str(created), str(commit))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.release_id: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"release_id": release_id}
