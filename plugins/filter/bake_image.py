"""Jinja filter ideation.platform.bake_image: the bake a role should use or reuse; logic in
plugin_utils/bake.py."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bake_image
author: ideation platform team
version_added: "0.1.0"
short_description: The newest available baked image of a role
description:
  - From the images O(_input) (as M(amazon.aws.ec2_ami_info) returns them), the ID of the
    newest available bake (tag C(Purpose=bake)) of O(role) built from O(base_image), or an
    empty string when there is none (docs/images.md).
  - "With O(content_hash), only a bake of exactly that content: the image a new bake would
    produce, so the bake can be skipped."
options:
  _input:
    description: Images with C(image_id), C(state), C(creation_date) and C(tags).
    type: list
    elements: dict
    required: true
  role:
    description: The role (tier) the image was baked for, its C(Role) tag.
    type: str
    required: true
  base_image:
    description: The base image the bake must have been built from, its C(BaseImage) tag.
    type: str
    required: true
  content_hash:
    description: When set, the C(ContentHash) tag the bake must carry.
    type: str
"""

EXAMPLES = r"""
- name: Use the api's newest bake, or the base image
  ansible.builtin.set_fact:
    api_image: "{{ found.images | ideation.platform.bake_image('api', base) or base }}"
"""

RETURN = r"""
_value:
  description: The image ID, or an empty string.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils import bake as _bake


def bake_image(images: Any, role: Any, base_image: Any, content_hash: Any = None) -> str:
    """Wrapper: bad input becomes AnsibleFilterError naming the filter."""
    try:
        if not isinstance(images, list):
            raise ValueError(f"expects a list of images, got {type(images).__name__}")
        content = None if content_hash is None else str(content_hash)
        return _bake.bake_image(images, str(role), str(base_image), content)
    except ValueError as exc:
        raise AnsibleFilterError(f"ideation.platform.bake_image: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"bake_image": bake_image}
