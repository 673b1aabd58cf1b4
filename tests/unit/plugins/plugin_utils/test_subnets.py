"""subnet_plan: the design's subnets, AWS's sizes, and invariants checked with ipaddress."""

from __future__ import annotations

import ipaddress
import itertools
import re
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.subnets import (
    plan_subnets,
    prefix_for_hosts,
)
from hypothesis import assume, given
from hypothesis import strategies as st

ZONES = ["us-east-1a", "us-east-1b"]
DESIGN_TIERS = [
    {"name": "public", "prefix": 24, "offset": 1},
    {"name": "private", "prefix": 24, "offset": 10},
    {"name": "database", "prefix": 24, "offset": 20},
]
# Section 3 of the design: (tier, zone) -> subnet
DESIGN_SUBNETS = {
    ("public", "us-east-1a"): "10.0.1.0/24",
    ("public", "us-east-1b"): "10.0.2.0/24",
    ("private", "us-east-1a"): "10.0.10.0/24",
    ("private", "us-east-1b"): "10.0.11.0/24",
    ("database", "us-east-1a"): "10.0.20.0/24",
    ("database", "us-east-1b"): "10.0.21.0/24",
}


def test_design_subnets() -> None:
    plan = plan_subnets("10.0.0.0/16", DESIGN_TIERS, ZONES)
    assert {(s["tier"], s["zone"]): s["cidr"] for s in plan} == DESIGN_SUBNETS
    assert [s["name"] for s in plan] == [
        f"{tier}-{zone}" for tier in ("public", "private", "database") for zone in ZONES
    ]
    assert {s["usable_hosts"] for s in plan} == {256 - 5}
    assert set(plan[0]) == {"name", "tier", "zone", "cidr", "usable_hosts"}


def test_packed_tiers_follow_every_earlier_subnet() -> None:
    tiers = [{"name": "a", "prefix": 24, "offset": 10}, {"name": "b", "hosts": 100}]
    plan = plan_subnets("10.0.0.0/16", tiers, ZONES)
    assert [s["cidr"] for s in plan] == [
        "10.0.10.0/24",
        "10.0.11.0/24",
        "10.0.12.0/25",
        "10.0.12.128/25",
    ]
    assert [s["usable_hosts"] for s in plan][2:] == [123, 123]


def test_packing_aligns_to_the_tier_size() -> None:
    tiers = [{"name": "small", "prefix": 28}, {"name": "big", "prefix": 24}]
    plan = plan_subnets("10.0.0.0/16", tiers, ["a"])
    assert [s["cidr"] for s in plan] == ["10.0.0.0/28", "10.0.1.0/24"]


@given(st.integers(1, 2**16 - 5))
def test_prefix_for_hosts_is_the_smallest_aws_subnet(hosts: int) -> None:
    prefix = prefix_for_hosts(hosts)
    usable = ipaddress.ip_network(f"10.0.0.0/{prefix}").num_addresses - 5
    assert usable >= hosts
    assert prefix == 28 or ipaddress.ip_network(f"10.0.0.0/{prefix + 1}").num_addresses - 5 < hosts


@st.composite
def plans(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], list[str]]:
    """A VPC between /16 and /24, up to 5 tiers (prefix or hosts, offset or packed), 1-4 zones.

    Sizes and offsets are drawn so that most plans fit and some do not.
    """
    vpc_prefix = draw(st.integers(16, 24))
    vpc = ipaddress.IPv4Network((draw(st.integers(0, 2**32 - 1)), vpc_prefix), strict=False)
    zones = [f"zone-{i}" for i in range(draw(st.integers(1, 4)))]
    smallest = min(vpc_prefix + 3, 28)
    tiers = []
    for index in range(draw(st.integers(1, 5))):
        tier: dict[str, Any] = {"name": f"tier{index}"}
        if draw(st.booleans()):
            tier["prefix"] = draw(st.integers(smallest, 28))
        else:
            tier["hosts"] = draw(st.integers(1, 2 ** (32 - smallest) - 5))
        if draw(st.integers(0, 3)) == 0:
            tier["offset"] = draw(st.integers(0, 12))
        tiers.append(tier)
    return str(vpc), tiers, zones


def _tier_prefix(tier: dict[str, Any]) -> int:
    return tier["prefix"] if "prefix" in tier else prefix_for_hosts(tier["hosts"])


@given(plans())
def test_plans_are_sound(case: tuple[str, list[dict[str, Any]], list[str]]) -> None:
    vpc_text, tiers, zones = case
    try:
        plan = plan_subnets(vpc_text, tiers, zones)
    except ValueError as exc:
        assert re.search(r"tier '[^']+'", str(exc)), exc  # every plan error names a tier
        return
    vpc = ipaddress.IPv4Network(vpc_text)
    networks = [ipaddress.IPv4Network(s["cidr"]) for s in plan]  # strict: aligned
    assert [(s["tier"], s["zone"]) for s in plan] == [(t["name"], z) for t in tiers for z in zones]
    for subnet, network, (tier, zone) in zip(
        plan, networks, itertools.product(tiers, zones), strict=True
    ):
        assert network.subnet_of(vpc)
        assert network.prefixlen == _tier_prefix(tier)
        assert subnet["usable_hosts"] == network.num_addresses - 5
        assert subnet["name"] == f"{tier['name']}-{zone}"
        if "hosts" in tier:
            assert subnet["usable_hosts"] >= tier["hosts"]
    for first, second in itertools.combinations(networks, 2):
        assert not first.overlaps(second)
    assert plan == plan_subnets(vpc_text, tiers, zones)  # deterministic


@given(plans())
def test_offsets_and_packing_place_subnets_where_documented(
    case: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    vpc_text, tiers, zones = case
    try:
        plan = plan_subnets(vpc_text, tiers, zones)
    except ValueError:
        assume(False)
        return
    base = int(ipaddress.IPv4Network(vpc_text).network_address)
    packed_end = base
    for index, tier in enumerate(tiers):
        mine = [ipaddress.IPv4Network(s["cidr"]) for s in plan[index * len(zones) :][: len(zones)]]
        size = mine[0].num_addresses
        starts = [int(n.network_address) for n in mine]
        assert starts == [starts[0] + i * size for i in range(len(zones))]  # zone i: offset + i
        if "offset" in tier:
            assert starts[0] == base + tier["offset"] * size
        else:  # the first aligned block after everything placed before
            assert starts[0] >= packed_end and starts[0] - size < packed_end
        packed_end = max(packed_end, int(mine[-1].broadcast_address) + 1)


@given(plans(), st.integers(16, 28))
def test_appending_a_packed_tier_moves_nothing(
    case: tuple[str, list[dict[str, Any]], list[str]], prefix: int
) -> None:
    vpc_text, tiers, zones = case
    extra = {"name": "appended", "prefix": max(prefix, int(vpc_text.split("/")[1]))}
    try:
        before = plan_subnets(vpc_text, tiers, zones)
        after = plan_subnets(vpc_text, [*tiers, extra], zones)
    except ValueError:
        assume(False)
        return
    assert after[: len(before)] == before


@pytest.mark.parametrize(
    ("vpc", "tiers", "zones", "message"),
    [
        (
            "10.0.0.0/16",
            [{"name": "web", "prefix": 24, "offset": 1}, {"name": "db", "prefix": 23, "offset": 0}],
            ZONES,
            "tier 'web' subnet 10.0.1.0/24 (us-east-1a) overlaps tier 'db' subnet 10.0.0.0/23",
        ),
        (
            "10.0.0.0/16",
            [{"name": "web", "prefix": 24, "offset": 255}],
            ZONES,
            "tier 'web': offset 255 with 2 zone(s) puts subnets outside the VPC 10.0.0.0/16",
        ),
        (
            "10.0.0.0/24",
            [{"name": "a", "prefix": 25}, {"name": "b", "prefix": 26}],
            ZONES,
            "tier 'b' does not fit: the VPC 10.0.0.0/24 has no room for 2 more /26 subnet(s) "
            "after 10.0.0.255",
        ),
        ("10.0.0.0/24", [{"name": "a", "prefix": 24}], ZONES, "tier 'a' does not fit"),
        ("10.0.0.0/16", [{"name": "tiny", "prefix": 29}], ZONES, "tier 'tiny': /29 is smaller"),
        ("10.0.0.0/20", [{"name": "huge", "prefix": 19}], ZONES, "tier 'huge': /19 is larger"),
        ("10.0.0.0/16", [{"name": "h", "hosts": 65532}], ZONES, "tier 'h': 65532 hosts need a /15"),
        ("10.0.0.0/16", [{"name": "h", "hosts": 0}], ZONES, "tier 'h': hosts must be"),
        ("10.0.0.0/16", [{"name": "h", "hosts": True}], ZONES, "tier 'h': hosts must be"),
        ("10.0.0.0/16", [{"name": "x", "prefix": 24, "hosts": 9}], ZONES, "tier 'x': give exactly"),
        ("10.0.0.0/16", [{"name": "x"}], ZONES, "tier 'x': give exactly one"),
        ("10.0.0.0/16", [{"name": "x", "prefix": "24"}], ZONES, "tier 'x': prefix must be"),
        ("10.0.0.0/16", [{"name": "x", "prefix": 24, "offset": -1}], ZONES, "tier 'x': offset"),
        ("10.0.0.0/16", [{"name": "x", "prefix": 24, "offset": 1.0}], ZONES, "tier 'x': offset"),
        ("10.0.0.0/16", [{"name": "x", "prefix": 24, "size": 1}], ZONES, "tier 'x': unknown key"),
        (
            "10.0.0.0/16",
            [{"name": "app", "prefix": 24}, {"name": "app", "prefix": 24}],
            ZONES,
            "duplicate tier name 'app'",
        ),
        (
            "10.0.0.0/16",
            [{"name": "a-b", "prefix": 24}, {"name": "a", "prefix": 24}],
            ["c", "b-c"],
            "tier 'a': subnet name 'a-b-c' is also made by tier 'a-b'",
        ),
        ("10.0.0.0/16", [{"prefix": 24}], ZONES, "each tier needs a non-empty string 'name'"),
        ("10.0.0.0/16", ["public"], ZONES, "each tier must be a mapping"),
        ("10.0.0.0/16", [], ZONES, "tiers must be a non-empty list"),
        ("10.0.0.0/16", DESIGN_TIERS, [], "zones must be a non-empty list"),
        ("10.0.0.0/16", DESIGN_TIERS, "us-east-1a", "zones must be a non-empty list"),
        ("10.0.0.0/16", DESIGN_TIERS, ["a", "a"], "duplicate zone 'a'"),
        ("10.0.0.0/16", DESIGN_TIERS, ["a", ""], "each zone must be a non-empty string"),
        ("10.0.0.0/8", DESIGN_TIERS, ZONES, "the VPC 10.0.0.0/8 is larger than the /16"),
        ("10.0.0.0/29", DESIGN_TIERS, ZONES, "the VPC 10.0.0.0/29 is smaller than the /28"),
        ("10.0.0.5/16", DESIGN_TIERS, ZONES, "has host bits set"),
        ("2001:db8::/56", DESIGN_TIERS, ZONES, "is not an IPv4 network"),
        (None, DESIGN_TIERS, ZONES, "the VPC CIDR must be a string"),
    ],
)
def test_rejections(
    vpc: Any, tiers: Any, zones: Any, message: str, rejected_by_filter: Any
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        plan_subnets(vpc, tiers, zones)
    rejected_by_filter(message, "subnet_plan", vpc, tiers, zones)


def test_min_vpc_prefix_is_for_callers_outside_aws() -> None:
    tiers = [{"name": f"t{i}", "prefix": 24} for i in range(4)]
    plan = plan_subnets("10.0.0.0/8", tiers, ["a", "b"], min_vpc_prefix=8)
    assert plan[-1]["cidr"] == "10.0.7.0/24"
