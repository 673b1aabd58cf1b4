"""Jinja filter ideation.platform.bake_images_to_prune: old bakes of a role to deregister;
logic in plugin_utils/bake.py."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bake_images_to_prune
author: ideation platform team
version_added: "0.1.0"
short_description: The bakes of a role beyond the newest N
description:
  - From the images O(_input) (as M(amazon.aws.ec2_ami_info) returns them), the IDs of the
    bakes of O(role) older than its O(keep) newest, oldest first, never one in O(in_use)
    (docs/images.md).
options:
  _input:
    description: Images with C(image_id), C(creation_date) and C(tags).
    type: list
    elements: dict
    required: true
  role:
    description: The role (tier) whose bakes are pruned.
    type: str
    required: true
  keep:
    description: How many of the newest bakes to keep (at least 1).
    type: int
    required: true
  in_use:
    description: Image IDs never pruned (named by launch templates, run by instances).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Deregister the api's old bakes and delete their snapshots
  amazon.aws.ec2_ami:
    image_id: "{{ item }}"
    delete_snapshot: true
    state: absent
  loop: "{{ found.images | ideation.platform.bake_images_to_prune('api', 3) }}"
"""

RETURN = r"""
_value:
  description: Image IDs, oldest first.
  type: list
  elements: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import bake as _bake


def bake_images_to_prune(images: Any, role: Any, keep: Any, in_use: Any = None) -> list[str]:
    """Wrapper: bad input becomes AnsibleFilterError naming the filter."""
    try:
        if not isinstance(images, list):
            raise ValueError(f"expects a list of images, got {type(images).__name__}")
        used = [str(i) for i in (in_use or [])]
        return _bake.images_to_prune(images, str(role), keep, used)
    except ValueError as exc:
        raise AnsibleFilterError(f"ideation.platform.bake_images_to_prune: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"bake_images_to_prune": bake_images_to_prune}
