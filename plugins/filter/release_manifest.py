"""Jinja filter ideation.platform.release_manifest: a release's manifest; logic in plugin_utils."""

from __future__ import annotations

DOCUMENTATION = r"""
name: release_manifest
author: ideation platform team
version_added: "0.1.0"
short_description: The manifest of a release directory, with the sha256 of every file
description:
  - Hashes every file under the directory O(_input) (on the controller; C(manifest.json) itself
    excluded) and returns the manifest C(release.yml) writes as C(manifest.json) - format,
    release id, commit, creation time, the O(extra) items, and C(files) mapping each POSIX path
    relative to the directory to its sha256 (docs/releases.md).
positional: release, commit, created
options:
  _input:
    description: The staged release directory on the controller.
    type: path
    required: true
  release:
    description: The release id (ideation.platform.release_id).
    type: str
    required: true
  commit:
    description: The git commit it was built from.
    type: str
    required: true
  created:
    description: The build time, ISO 8601 with a time zone.
    type: str
    required: true
  extra:
    description: More top-level items (environment, package versions, ...).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Write the manifest
  ansible.builtin.copy:
    dest: "{{ stage }}/manifest.json"
    content: "{{ stage | ideation.platform.release_manifest(id, commit, created) | to_nice_json }}"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The manifest.
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import release as _release


def release_manifest(
    directory: Any, release: Any, commit: Any, created: Any, extra: Any = None
) -> dict[str, Any]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        files = _release.hash_tree(str(directory))
        return _release.build_manifest(str(release), str(commit), str(created), files,
                                       **dict(extra or {}))
    except (ValueError, TypeError, OSError) as exc:
        raise AnsibleFilterError(f"ideation.platform.release_manifest: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"release_manifest": release_manifest}
