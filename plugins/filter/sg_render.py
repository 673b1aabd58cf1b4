"""Jinja filter ideation.platform.sg_render: SG matrix to Markdown or Graphviz (plugin_utils)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sg_render
author: Ideation platform team (@ideation-platform)
version_added: "0.1.0"
short_description: Draw a security-group matrix as a Markdown page or a Graphviz diagram
description:
  - Renders the same matrix that M(ideation.platform.sg_rules#filter) turns into rules, after
    the same validation and merging, so the picture is exactly what AWS gets.
  - "C(markdown) gives a page with the subnets (when O(subnets) is given), a who-may-talk-to-whom
    matrix, the rules that let nothing through, and one table per group with each rule's AWS
    description and its C(why) (C(design) for entries without one)."
  - "C(dot) gives a Graphviz digraph - groups as boxes, CIDR peers (the world, named CIDRs) as
    ellipses, one edge per source and destination labelled with protocols and ports."
  - "A group-to-group rule lets nothing through unless the other end agrees - egress at the
    source (to the group, or to the world) and ingress at the destination. Rules without that
    partner are listed, and drawn dashed red; an C(all) egress rule needs no partner."
  - C(scripts/render-network-docs) uses this filter to write docs/network.md and
    docs/network.dot from an environment's network variables.
positional: format
options:
  _input:
    description: The security-group matrix; see M(ideation.platform.sg_rules#filter).
    type: dict
    required: true
  format:
    description: What to render.
    type: str
    choices: [markdown, dot]
    default: markdown
  title:
    description: Page heading or graph label.
    type: str
    default: Network
  name_prefix:
    description: The prefix M(ideation.platform.sg_rules#filter) gets, to show AWS group names.
    type: str
    default: ''
  subnets:
    description: The output of M(ideation.platform.subnet_plan#filter), to list the subnets too.
    type: list
    elements: dict
  preamble:
    description: Markdown put under the heading, for example where the page comes from.
    type: str
    default: ''
seealso:
  - plugin: ideation.platform.sg_rules
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write the firewall diagram
  ansible.builtin.copy:
    dest: docs/network.dot
    content: "{{ network_security_groups | ideation.platform.sg_render('dot', title='prod') }}"
    mode: "0644"

- name: Write the network page, subnets included
  ansible.builtin.copy:
    dest: docs/network.md
    content: >-
      {{ network_security_groups | ideation.platform.sg_render('markdown', title='prod network',
         name_prefix='ideation-prod-',
         subnets=network_vpc_cidr | ideation.platform.subnet_plan(network_tiers, network_zones)) }}
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The Markdown page or the DOT source, ending with a newline.
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.echo import echo
from ansible_collections.ideation.platform.plugins.plugin_utils.network_render import render
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import build_matrix


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {echo(value)}")
    return value


def sg_render(
    matrix: Any,
    format: Any = "markdown",
    title: Any = "Network",
    name_prefix: Any = "",
    subnets: Any = None,
    preamble: Any = "",
) -> str:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return render(
            build_matrix(matrix),
            _text(format, "format"),
            title=_text(title, "title"),
            prefix=_text(name_prefix, "name_prefix"),
            subnets=subnets,
            preamble=_text(preamble, "preamble"),
        )
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.sg_render: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"sg_render": sg_render}
