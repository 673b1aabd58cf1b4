"""Jinja filter ideation.platform.subnet_plan: VPC, tiers and zones to subnets (plugin_utils)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: subnet_plan
author: Ideation platform team (@ideation-platform)
version_added: "0.1.0"
short_description: Plan a VPC's subnets from tiers and availability zones
description:
  - Turns a VPC CIDR, a list of tiers and a list of availability zones into one subnet per tier
    and zone, deterministically, ordered by tier then zone (both in input order).
  - Each tier has a size, as a prefix length (O(tiers[].prefix)) or as the number of usable
    hosts it must hold (O(tiers[].hosts)), and optionally an O(tiers[].offset). Subnet sizes
    follow AWS - between /16 and /28, and C(usable_hosts) is the size minus the 5 addresses AWS
    reserves in every subnet.
  - With O(tiers[].offset), the first zone's subnet is subnet number O(tiers[].offset) of that
    size within the VPC and zone i gets O(tiers[].offset) + i. Without it, the tier is packed
    after every subnet of the tiers before it, aligned to its size, so appending a tier never
    moves an existing subnet.
  - Rejected with a message naming the tier - overlapping subnets, subnets outside the VPC, a
    tier that does not fit, a size AWS does not allow, duplicate tier names or subnet names,
    unknown keys. The VPC must be IPv4 with no host bits set, between /16 and /28.
positional: tiers, zones
options:
  _input:
    description: The VPC's IPv4 CIDR block, for example C(10.0.0.0/16).
    type: str
    required: true
  tiers:
    description: The tiers, each a mapping.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Tier name; subnets are named C(<tier>-<zone>).
        type: str
        required: true
      prefix:
        description: Prefix length of each subnet (16 to 28, and not shorter than the VPC's).
        type: int
      hosts:
        description:
          - Usable hosts each subnet must hold, instead of O(tiers[].prefix); the smallest
            subnet that holds them after AWS's 5 reserved addresses, at least a /28.
        type: int
      offset:
        description: Subnet number of the first zone's subnet, in subnets of this tier's size.
        type: int
  zones:
    description: Availability zone names, for example C([us-east-1a, us-east-1b]).
    type: list
    elements: str
    required: true
seealso:
  - plugin: ideation.platform.cidr_subnet
    plugin_type: filter
"""

EXAMPLES = r"""
# inventories/prod/group_vars/all/network.yml holds the design's plan:
#   network_vpc_cidr: 10.0.0.0/16
#   network_zones: [us-east-1a, us-east-1b]
#   network_tiers:
#     - {name: public, prefix: 24, offset: 1}
#     - {name: private, prefix: 24, offset: 10}
#     - {name: database, prefix: 24, offset: 20}
- name: Create one subnet per tier and zone
  amazon.aws.ec2_vpc_subnet:
    vpc_id: "{{ vpc.vpc.id }}"
    cidr: "{{ item.cidr }}"
    az: "{{ item.zone }}"
    tags:
      Name: "ideation-prod-{{ item.name }}"
      Tier: "{{ item.tier }}"
  loop: "{{ network_vpc_cidr | ideation.platform.subnet_plan(network_tiers, network_zones) }}"
  loop_control:
    label: "{{ item.name }} {{ item.cidr }}"

# A tier sized by host count, packed (no offset): 100 hosts + 5 reserved need a /25, so this
# gives app-a 10.0.0.0/25 and app-b 10.0.0.128/25, each with usable_hosts 123.
- name: Size a tier by host count
  ansible.builtin.debug:
    msg: "{{ '10.0.0.0/16' | ideation.platform.subnet_plan(tiers, ['a', 'b']) }}"
  vars:
    tiers: [{name: app, hosts: 100}]
"""

RETURN = r"""
_value:
  description: One subnet per tier and zone, ordered by tier then zone.
  type: list
  elements: dict
  contains:
    name:
      description: C(<tier>-<zone>), for example C(public-us-east-1a).
      type: str
    tier:
      description: The tier's name.
      type: str
    zone:
      description: The availability zone.
      type: str
    cidr:
      description: The subnet, for example C(10.0.1.0/24).
      type: str
    usable_hosts:
      description: Addresses left after the 5 AWS reserves, for example 251 for a /24.
      type: int
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.subnets import plan_subnets


def subnet_plan(vpc_cidr: Any, tiers: Any, zones: Any) -> list[dict[str, Any]]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return plan_subnets(vpc_cidr, tiers, zones)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.subnet_plan: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"subnet_plan": subnet_plan}
