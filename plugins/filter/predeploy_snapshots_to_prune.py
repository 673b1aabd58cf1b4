"""Jinja filter ideation.platform.predeploy_snapshots_to_prune: old pre-deploy snapshots."""

from __future__ import annotations

DOCUMENTATION = r"""
name: predeploy_snapshots_to_prune
author: ideation platform team
version_added: "0.1.0"
short_description: Pick the pre-deploy RDS snapshots older than their retention
description:
  - From the snapshots M(amazon.aws.rds_snapshot_info) lists, the identifiers of those
    deploy.yml made (manual snapshots of O(instance) tagged C(SnapshotPurpose=pre-deploy)),
    available, and created more than O(keep_days) days before O(now); oldest first.
  - Automated snapshots, untagged or differently tagged manual ones, another instance's, one
    still being created, and those named in O(keep) are never picked.
positional: instance, keep_days, now
options:
  _input:
    description: The C(snapshots) of M(amazon.aws.rds_snapshot_info).
    type: list
    elements: dict
    required: true
  instance:
    description: The DB instance identifier.
    type: str
    required: true
  keep_days:
    description: Days a pre-deploy snapshot is kept (0 keeps only those in O(keep)).
    type: float
    required: true
  now:
    description: The current time, ISO 8601 (C(now(utc=true).isoformat())).
    type: str
    required: true
  keep:
    description: Snapshot identifiers never to pick (the one just taken).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Delete the pre-deploy snapshots older than 14 days
  amazon.aws.rds_instance_snapshot:
    db_snapshot_identifier: "{{ item }}"
    state: absent
  loop: >-
    {{ _snapshots.snapshots | ideation.platform.predeploy_snapshots_to_prune(
       'ideation-prod-db', 14, now(utc=true).isoformat(), keep=[_new_snapshot_id]) }}
"""

RETURN = r"""
_value:
  description: Snapshot identifiers, oldest first.
  type: list
  elements: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.db_snapshots import (
    snapshots_to_prune,
)


def predeploy_snapshots_to_prune(
    snapshots: Any, instance: Any, keep_days: Any, now: Any, keep: Any = ()
) -> list[str]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        if not isinstance(snapshots, list):
            raise ValueError(f"expects the list of snapshots, got {type(snapshots).__name__}")
        return snapshots_to_prune(snapshots, str(instance), keep_days, now, list(keep))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.predeploy_snapshots_to_prune: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"predeploy_snapshots_to_prune": predeploy_snapshots_to_prune}
