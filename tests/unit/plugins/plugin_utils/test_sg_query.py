"""sg_admitted_cidrs: what a rendered security group admits on a TCP port."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.sg_admitted_cidrs import (
    sg_admitted_cidrs,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import sg_rules
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_query import admitted_cidrs

MATRIX = {
    "world": {"bastion": {"ingress": [443]}},
    "groups": [
        {
            "name": "bastion",
            "description": "SSH bastion",
            "ingress": [
                {"from": ["198.51.100.0/24", "2001:db8::/48"], "ports": 22},
                {"from": "203.0.113.7/32", "ports": "20-30"},
                {"from": "192.0.2.0/24", "ports": 2222},
                {"from": "world", "ports": 443},
            ],
        },
        {"name": "other", "description": "x", "ingress": [{"from": "10.9.0.0/16", "ports": 22}]},
    ],
}


def test_the_networks_a_group_admits_on_a_port_without_the_world() -> None:
    groups = sg_rules(MATRIX)
    assert admitted_cidrs(groups, "bastion", 22) == [
        "198.51.100.0/24", "2001:db8::/48", "203.0.113.7/32"]
    assert admitted_cidrs(groups, "bastion", 2222) == ["192.0.2.0/24"]
    assert admitted_cidrs(groups, "bastion", 443) == []
    assert admitted_cidrs(groups, "nobody", 22) == []


def test_a_rule_of_every_protocol_admits_every_port() -> None:
    groups = [{"name": "g", "rules": [{"proto": "all", "cidr_ip": "10.0.0.0/8"}]}]
    assert admitted_cidrs(groups, "g", 5432) == ["10.0.0.0/8"]


@pytest.mark.parametrize("port", [0, 65536, True, "22"])
def test_a_port_that_is_not_a_tcp_port_is_refused(port) -> None:
    with pytest.raises(ValueError, match="port must be a TCP port"):
        admitted_cidrs([], "g", port)


def test_the_filter_names_itself_in_errors() -> None:
    with pytest.raises(AnsibleFilterError, match=r"^ideation\.platform\.sg_admitted_cidrs: "):
        sg_admitted_cidrs([], "g", 0)
