"""Network data of prod, staging and dev: one plan and matrix, distinct VPCs, known exposure."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import build_matrix

ENVIRONMENTS = ("prod", "staging", "dev")
Network = Callable[[str], dict[str, Any]]
GROUP_VARS = Path(__file__).resolve().parents[2] / "inventories" / "{env}" / "group_vars" / "all"


def network_file(env: str) -> Path:
    return Path(str(GROUP_VARS).format(env=env)) / "network.yml"


def network_overrides_file(env: str) -> Path:
    return Path(str(GROUP_VARS).format(env=env)) / "network_env.yml"


@pytest.mark.parametrize("env", ["staging", "dev"])
def test_environments_share_prods_plan_and_matrix(env: str, network: Network) -> None:
    """staging and dev reuse prod's file and override only their VPC and named CIDRs."""
    assert network_file(env).resolve() == network_file("prod").resolve()
    overrides = yaml.safe_load(network_overrides_file(env).read_text())
    assert set(overrides) == {"network_vpc_cidr", "network_named_cidrs"}
    prod, other = network("prod"), network(env)
    assert other["network_tiers"] == prod["network_tiers"]
    assert other["network_zones"] == prod["network_zones"]
    assert other["network_security_groups"] == {
        **prod["network_security_groups"],
        "named_cidrs": other["network_named_cidrs"],
    }
    assert set(other["network_named_cidrs"]) == set(prod["network_named_cidrs"])


def test_vpcs_do_not_overlap(network: Network) -> None:
    vpcs = [ipaddress.IPv4Network(network(env)["network_vpc_cidr"]) for env in ENVIRONMENTS]
    for first, second in itertools.combinations(vpcs, 2):
        assert not first.overlaps(second), (first, second)


def test_prod_world_exposure_is_exactly_the_allow_list(network: Network) -> None:
    """Inbound from the internet: 80 and 443 on nginx only; outbound: 80 and 443 from the
    instances; database and redis: nothing at all."""
    exposure = {
        (group.name, direction, rule.proto, rule.ports)
        for group in build_matrix(network("prod")["network_security_groups"])
        for direction in ("ingress", "egress")
        for rule in group.rules(direction)
        if rule.peer.is_world
    }
    web = {("tcp", "80"), ("tcp", "443")}
    expected = {("nginx", "ingress", *port) for port in web} | {
        (group, "egress", *port)
        for group in ("nginx", "api", "celery", "bastion", "monitoring")
        for port in web
    }
    assert exposure == expected


def test_admin_is_the_only_outside_address(network: Network) -> None:
    groups = build_matrix(network("prod")["network_security_groups"])
    outside = {
        rule.peer.label
        for group in groups
        for rule in (*group.ingress, *group.egress)
        if rule.peer.kind == "cidr" and not rule.peer.is_world
    }
    assert outside == {"admin"}
