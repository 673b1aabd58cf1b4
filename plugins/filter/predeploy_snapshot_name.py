"""Jinja filter ideation.platform.predeploy_snapshot_name: name a pre-deploy RDS snapshot."""

from __future__ import annotations

DOCUMENTATION = r"""
name: predeploy_snapshot_name
author: ideation platform team
version_added: "0.1.0"
short_description: Name the manual RDS snapshot deploy.yml takes before a release's migrations
description:
  - "Returns C(<instance>-predeploy-<release>-<run>) in the characters RDS allows: lowercase
    letters, digits and single hyphens (any other run of characters becomes one hyphen)."
  - The release is shortened when the name would pass RDS's 255 characters; the run id stays
    whole, so two deploys of one release never collide.
  - Fails when a part has no letter or digit, or the instance does not start with a letter.
positional: release, run
options:
  _input:
    description: The DB instance identifier.
    type: str
    required: true
  release:
    description: The release (image tag) being deployed.
    type: str
    required: true
  run:
    description: The deploy run's id (a UTC time such as C(20261206T113000Z)).
    type: str
    required: true
seealso:
  - plugin: ideation.platform.predeploy_snapshots_to_prune
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Name the snapshot
  ansible.builtin.debug:
    msg: >-
      {{ 'ideation-prod-db' | ideation.platform.predeploy_snapshot_name('1.4.2',
                                                                        '20261206T113000Z') }}
# ideation-prod-db-predeploy-1-4-2-20261206t113000z
"""

RETURN = r"""
_value:
  description: The snapshot identifier.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.db_snapshots import (
    predeploy_snapshot_name as _predeploy_snapshot_name,
)


def predeploy_snapshot_name(instance: Any, release: Any, run: Any) -> str:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _predeploy_snapshot_name(str(instance), str(release), str(run))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.predeploy_snapshot_name: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"predeploy_snapshot_name": predeploy_snapshot_name}
