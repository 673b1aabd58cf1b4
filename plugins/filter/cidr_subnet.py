"""Jinja filter ideation.platform.cidr_subnet: Terraform's cidrsubnet(); logic in plugin_utils."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cidr_subnet
author: Ideation platform team (@ideation-platform)
version_added: "0.1.0"
short_description: Terraform's cidrsubnet() for IPv4 and IPv6
description:
  - Returns subnet number O(netnum) of the network O(_input) extended by O(newbits) bits; for
    example subnet 2 of C(10.0.0.0/16) extended by 8 bits is C(10.0.2.0/24).
  - Same results and same rejections as Terraform's C(cidrsubnet) (its parser and go-cidr's
    arithmetic), so plans written for Terraform carry over unchanged. In particular, as in
    Terraform, host bits in the prefix are ignored (C(10.0.0.5/16) means C(10.0.0.0/16)),
    IPv4 components with leading zeros are decimal (C(010.0.0.0/8) is C(10.0.0.0/8)), and an
    IPv4-mapped IPv6 result is printed as IPv4 (subnet 6 of C(::ffff:192.168.0.0/112) extended
    by 8 bits is C(192.168.6.0/24)).
  - Rejected with an error naming the filter, as Terraform rejects them - a prefix that does
    not parse (including a prefix length longer than the address, scope ids and netmask
    suffixes); O(newbits) making the prefix longer than the address; O(netnum) that does not
    fit in O(newbits) bits.
  - Also rejected, where Terraform's checks miss and it returns a wrong subnet - a negative
    O(newbits) or O(netnum) (hashicorp/terraform issues 17724 and 30654), and an O(netnum) of
    2**64 or more that does not fit (go-cidr compares only its low 64 bits).
  - "Any input fails with the filter's own error, never another exception (a numeric string
    such as C(1e99999999999999999999) included), and the message quotes at most the first 40
    characters of the value it names."
positional: newbits, netnum
options:
  _input:
    description: The parent network in CIDR notation, IPv4 or IPv6.
    type: str
    required: true
  newbits:
    description:
      - How many bits to add to the prefix length, 0 or more.
      - A whole number; an integral float or a numeric string (C("8"), C("8.0")) is accepted, as
        Terraform converts them.
    type: int
    required: true
  netnum:
    description:
      - Which of the 2**O(newbits) subnets to return, counting from 0.
      - A whole number; an integral float or a numeric string is accepted.
    type: int
    required: true
seealso:
  - plugin: ideation.platform.subnet_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The third /24 of the VPC
  ansible.builtin.debug:
    msg: "{{ '10.0.0.0/16' | ideation.platform.cidr_subnet(8, 2) }}"  # 10.0.2.0/24

- name: An IPv6 /64 from a /56 (Terraform's own example gives fe80:0:0:6::/64 from a /48)
  ansible.builtin.debug:
    msg: "{{ '2001:db8:0:100::/56' | ideation.platform.cidr_subnet(8, 6) }}"  # 2001:db8:0:106::/64
"""

RETURN = r"""
_value:
  description: The subnet in CIDR notation, in Go's canonical form (lower-case, RFC 5952 for IPv6).
  type: str
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.cidr import cidr_subnet as _subnet


def cidr_subnet(prefix: Any, newbits: Any, netnum: Any) -> str:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _subnet(prefix, newbits, netnum)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.cidr_subnet: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"cidr_subnet": cidr_subnet}
