"""Jinja filter ideation.platform.sg_rules: SG matrix to ec2_security_group args (plugin_utils)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sg_rules
author: Ideation platform team (@ideation-platform)
version_added: "0.1.0"
short_description: Turn a security-group matrix into amazon.aws.ec2_security_group arguments
description:
  - Validates a declarative security-group matrix and returns, for each group in matrix order,
    the O(name_prefix)ed name, its description and the C(rules) and C(rules_egress) lists that
    M(amazon.aws.ec2_security_group) takes as they are.
  - "The output is deterministic and minimal: per group, direction, peer and protocol,
    duplicate entries are merged and overlapping or adjacent port ranges collapse into one
    rule; an C(all) rule swallows the other rules of the same peer; rules are sorted by
    protocol, port and peer; merged descriptions are joined with C(; ), sorted."
  - Every group reference carries C(group_desc), the referenced group's description, so a loop
    over the result can reference groups that later iterations create (the module creates a
    missing referenced group only when it has that description).
  - A group with no egress entries gets C(rules_egress=[]); with C(purge_rules_egress=true)
    that means no outbound traffic at all (the module's default, without C(rules_egress), would
    be allow-all).
  - "Rejected with a message naming the group, direction and entry: unknown keys, a reference
    to an unknown group or named CIDR, a bad port, range or protocol, ports on a protocol that
    takes none, a CIDR with host bits set, text AWS does not accept in a name or description,
    duplicate group names, and any rule open to C(0.0.0.0/0) or C(::/0) (C(world), a literal, or
    a named CIDR that is one) on a protocol or port that O(_input.world) does not allow for
    that group and direction."
  - "Also rejected, per O(_input.limits) - a protocol and port outside O(_input.world) open to
    more than C(max_open_share) of the IPv4 or of the IPv6 address space, counting every CIDR
    peer of the group and direction together (so C(0.0.0.0/1) + C(128.0.0.0/1), C(::/1) +
    C(8000::/1) or a named CIDR widened to C(0.0.0.0/1) is the world, refused like it); a
    named CIDR wider than C(named_cidr_widest); more rules in one group and direction than
    C(rules_per_group), AWS's quota, counted as AWS does (IPv4 and IPv6 apart, a group
    reference in both)."
  - Error messages quote at most the first 40 characters of any value they name.
positional: name_prefix
options:
  _input:
    description: The matrix, a mapping with the keys below.
    type: dict
    required: true
    suboptions:
      groups:
        description:
          - The security groups, in the order the result keeps.
          - "Each is C({name, description, ingress, egress}): C(name) is the logical name
            (the AWS name is O(name_prefix) + name), C(description) is required (AWS needs one,
            it cannot change later, and references to the group repeat it), C(ingress) and
            C(egress) are lists of entries (missing or empty means none)."
          - "An entry is C({from|to, proto, ports, desc, why}). C(from) (ingress) or C(to)
            (egress) is a peer or a list of peers. A peer is the name of a group of the matrix,
            C(self) (the group itself), C(world) (C(0.0.0.0/0)), a name from O(_input.named_cidrs),
            or a CIDR literal such as C(10.0.0.0/8) or C(2001:db8::/32)."
          - "C(proto) is C(tcp) (the default), C(udp), C(icmp), C(icmpv6), C(all) or an IP
            protocol number 0-255. C(ports) is required for tcp and udp and refused for the
            others (ICMP means every type and code) - a port (C(22)), a range (C(8000-8010)) or
            a list of them."
          - "C(desc) becomes the AWS rule description (AWS's character set, 255 characters at
            most; a description is generated when absent). C(why) is for people and the rendered
            docs only, never sent to AWS - say there why a rule exists (this project marks with
            it every rule the design document does not list)."
        type: list
        elements: dict
        required: true
      named_cidrs:
        description:
          - "Names usable as peers, mapping to IPv4 or IPv6 CIDR blocks, for example
            C({admin: 203.0.113.10/32}). Usually C({{ network_named_cidrs }})."
          - A name may not be a group name, C(self) or C(world).
        type: dict
      world:
        description:
          - "The only ports open to the world: C({<group>: {ingress: <ports>, egress: <ports>}}),
            ports as in entries (they apply to tcp and udp), or the word C(all) for any protocol
            and port."
          - A group or direction missing here may not have any rule open to the world.
        type: dict
      limits:
        description:
          - "What the matrix may open besides the world allow-list:
            C({max_open_share, named_cidr_widest, rules_per_group}), each optional."
          - "C(max_open_share) (default C(0.01), 1 %; a number or a fraction such as C(1/256)):
            the largest share of the IPv4, and separately of the IPv6, address space that the
            CIDR peers of one group and direction may open together on any protocol and port
            outside O(_input.world)."
          - "C(named_cidr_widest) (default C({ipv4: 24, ipv6: 48})): the shortest prefix a
            named CIDR may have. Named CIDRs are the operators' addresses (C(admin)), the values
            most often set with C(-e); a wide range belongs in the matrix as a literal CIDR."
          - "C(rules_per_group) (default C(60), AWS's default quota of inbound, and of outbound,
            rules per security group): the most merged rules one group may have per direction,
            IPv4 and IPv6 counted apart, a group reference counting in both. Raise it only
            after AWS has raised the quota of the account."
        type: dict
  name_prefix:
    description: Prepended to every group name, in the result and in group references.
    type: str
    default: ''
seealso:
  - plugin: ideation.platform.sg_render
    plugin_type: filter
  - module: amazon.aws.ec2_security_group
"""

EXAMPLES = r"""
# A matrix (inventories/prod/group_vars/all/network.yml has the whole platform's):
#   network_security_groups:
#     named_cidrs: "{{ network_named_cidrs }}"     # {admin: 203.0.113.10/32}
#     world:
#       nginx: {ingress: [80, 443]}
#       api: {egress: [443]}
#     groups:
#       - name: nginx
#         description: Nginx load balancers in the public subnets
#         ingress:
#           - {from: world, ports: [80, 443], desc: HTTP and HTTPS from the internet}
#           - {from: bastion, ports: 22, why: Ansible reaches every host through the bastion}
#         egress:
#           - {to: api, proto: all, desc: All traffic to the API hosts}
#       - name: api
#         description: API hosts in the private subnets
#         ingress:
#           - {from: nginx, ports: 8000}
#           - {from: bastion, ports: 22}
#         egress:
#           - {to: world, ports: 443, desc: HTTPS for external APIs}
#       - name: bastion
#         description: SSH bastion
#         ingress:
#           - {from: admin, ports: 22}
#         egress:
#           - {to: [api, nginx], ports: 22}
- name: Ensure the security groups and their rules
  amazon.aws.ec2_security_group:
    name: "{{ item.name }}"
    description: "{{ item.description }}"
    vpc_id: "{{ vpc.vpc.id }}"
    rules: "{{ item.rules }}"
    rules_egress: "{{ item.rules_egress }}"
    purge_rules: true
    purge_rules_egress: true
  loop: "{{ network_security_groups | ideation.platform.sg_rules(name_prefix='ideation-prod-') }}"
  loop_control:
    label: "{{ item.name }}"
# The first item is then:
#   name: ideation-prod-nginx
#   description: Nginx load balancers in the public subnets
#   rules:
#     - {proto: tcp, from_port: 22, to_port: 22, group_name: ideation-prod-bastion,
#        group_desc: SSH bastion, rule_desc: tcp 22 from bastion}
#     - {proto: tcp, from_port: 80, to_port: 80, cidr_ip: 0.0.0.0/0,
#        rule_desc: HTTP and HTTPS from the internet}
#     - {proto: tcp, from_port: 443, to_port: 443, cidr_ip: 0.0.0.0/0,
#        rule_desc: HTTP and HTTPS from the internet}
#   rules_egress:
#     - {proto: all, group_name: ideation-prod-api, group_desc: API hosts in the private subnets,
#        rule_desc: All traffic to the API hosts}
"""

RETURN = r"""
_value:
  description: One item per group, in matrix order.
  type: list
  elements: dict
  contains:
    name:
      description: O(name_prefix) + the logical name.
      type: str
    description:
      description: The group's description.
      type: str
    rules:
      description:
        - Ingress rules for M(amazon.aws.ec2_security_group), each with C(proto), C(from_port)
          and C(to_port) (tcp, udp; C(-1) for ICMP; absent for C(all) and numbered protocols),
          exactly one of C(group_name) (with C(group_desc)), C(cidr_ip) or C(cidr_ipv6), and
          C(rule_desc).
      type: list
      elements: dict
    rules_egress:
      description: Egress rules, same shape; C([]) when the group has none.
      type: list
      elements: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import (
    sg_rules as _sg_rules,
)


def sg_rules(matrix: Any, name_prefix: Any = "") -> list[dict[str, Any]]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _sg_rules(matrix, name_prefix)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.sg_rules: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"sg_rules": sg_rules}
