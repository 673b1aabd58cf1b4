"""role_subnet_cidrs: the subnets of the tiers some roles' auto-scaling groups launch into."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.role_subnet_cidrs import (
    role_subnet_cidrs as role_subnet_cidrs_filter,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.role_networks import (
    role_subnet_cidrs,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.subnets import plan_subnets

GROUP_VARS = Path(__file__).resolve().parents[4] / "inventories" / "prod" / "group_vars" / "all"


@pytest.fixture(scope="module")
def prod() -> tuple[list[dict], dict]:
    network = yaml.safe_load((GROUP_VARS / "network.yml").read_text())
    aws = yaml.safe_load((GROUP_VARS / "aws.yml").read_text())
    plan = plan_subnets(
        network["network_vpc_cidr"], network["network_tiers"], network["network_zones"]
    )
    return plan, aws["aws_asgs"]


def test_monitoring_and_bastion_run_in_the_private_and_public_subnets(prod) -> None:
    plan, asgs = prod
    assert role_subnet_cidrs(plan, asgs, ["monitoring", "bastion"]) == [
        "10.0.1.0/24",
        "10.0.2.0/24",
        "10.0.10.0/24",
        "10.0.11.0/24",
    ]


def test_the_database_subnets_and_the_rest_of_the_vpc_are_not_admitted(prod) -> None:
    """What the allowlist used to be (the whole VPC) admitted the database tier and every
    address no subnet holds; the roles' subnets admit neither."""
    plan, asgs = prod
    admitted = [
        ipaddress.ip_network(c) for c in role_subnet_cidrs(plan, asgs, ["monitoring", "bastion"])
    ]
    for outside in ("10.0.20.5", "10.0.21.5", "10.0.3.1", "10.0.200.1"):
        assert not any(ipaddress.ip_address(outside) in net for net in admitted), outside
    assert any(ipaddress.ip_address("10.0.10.7") in net for net in admitted)


def test_one_role_gives_its_tier_only(prod) -> None:
    plan, asgs = prod
    assert role_subnet_cidrs(plan, asgs, ["bastion"]) == ["10.0.1.0/24", "10.0.2.0/24"]
    assert role_subnet_cidrs(plan, asgs, []) == []


@pytest.mark.parametrize(
    ("asgs", "roles", "message"),
    [
        ({"bastion": {"tier": "public"}}, ["monitoring"], "role 'monitoring' has no auto-scaling"),
        ({"bastion": {}}, ["bastion"], "auto-scaling group of role 'bastion' names no tier"),
        ({"bastion": {"tier": "dmz"}}, ["bastion"], "tier 'dmz', which has no subnet"),
        ({"bastion": {"tier": "public"}}, "bastion", "roles must be a list of role names"),
        (["bastion"], ["bastion"], "asgs must map role names"),
    ],
)
def test_bad_input_fails_with_the_filters_name(prod, asgs, roles, message) -> None:
    plan, _ = prod
    with pytest.raises(
        AnsibleFilterError, match=f"^ideation.platform.role_subnet_cidrs: .*{message}"
    ):
        role_subnet_cidrs_filter(plan, asgs, roles)


def test_a_subnet_without_a_cidr_is_refused() -> None:
    with pytest.raises(ValueError, match="each subnet needs a tier and a cidr"):
        role_subnet_cidrs([{"tier": "public"}], {"bastion": {"tier": "public"}}, ["bastion"])
