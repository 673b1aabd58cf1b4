"""Plan a VPC's subnets from tiers and availability zones, deterministically, within AWS's rules.

A tier is ``{name, prefix | hosts, offset?}``; each tier gets one subnet per zone, all the same
size. ``offset`` is the subnet number (in subnets of the tier's size) of the first zone's subnet;
zone ``i`` gets ``offset + i``. A tier without ``offset`` is packed after every subnet placed
before it, aligned to its size, so appending a tier never moves an existing subnet.
No Ansible import: the filter wrapper turns ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ansible_collections.ideation.platform.plugins.plugin_utils.echo import clip, echo, reason

AWS_RESERVED = 5  # network, VPC router, DNS, future use, broadcast
AWS_MIN_VPC_PREFIX = 16  # AWS: a VPC's IPv4 block is between /16 ...
AWS_MAX_PREFIX = 28  # ... and /28, and so is every subnet
_TIER_KEYS = frozenset({"name", "prefix", "hosts", "offset"})


@dataclass(frozen=True)
class Tier:
    """One validated tier: subnets of ``prefix`` bits, first at subnet number ``offset``."""

    name: str
    prefix: int
    offset: int | None


class _Placed(NamedTuple):
    start: int  # first address, as an integer
    size: int
    tier: str
    zone: str


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dotted(value: int) -> str:
    return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _cidr(start: int, size: int) -> str:
    return f"{_dotted(start)}/{32 - size.bit_length() + 1}"


def parse_vpc(vpc_cidr: Any, min_prefix: int = AWS_MIN_VPC_PREFIX) -> ipaddress.IPv4Network:
    """The VPC block: IPv4, no host bits set, between /min_prefix and /28."""
    if not isinstance(vpc_cidr, str):
        raise ValueError(f"the VPC CIDR must be a string like 10.0.0.0/16, got {echo(vpc_cidr)}")
    try:
        vpc = ipaddress.IPv4Network(vpc_cidr)
    except ValueError as exc:
        raise ValueError(
            f"the VPC CIDR {echo(vpc_cidr)} is not an IPv4 network: {reason(exc, vpc_cidr)}"
        ) from None
    if vpc.prefixlen < min_prefix:
        raise ValueError(f"the VPC {vpc} is larger than the /{min_prefix} AWS allows")
    if vpc.prefixlen > AWS_MAX_PREFIX:
        raise ValueError(f"the VPC {vpc} is smaller than the /{AWS_MAX_PREFIX} AWS allows")
    return vpc


def prefix_for_hosts(hosts: int) -> int:
    """Longest prefix whose subnet has ``hosts`` usable addresses after AWS's five, max /28."""
    return min(AWS_MAX_PREFIX, 32 - (hosts + AWS_RESERVED - 1).bit_length())


def _tier_size(name: str, spec: Mapping[str, Any], vpc: ipaddress.IPv4Network) -> int:
    """The tier's prefix length, from ``prefix`` or ``hosts``, checked against AWS and the VPC."""
    if ("prefix" in spec) == ("hosts" in spec):
        raise ValueError(f"tier {echo(name)}: give exactly one of 'prefix' and 'hosts'")
    if "hosts" in spec:
        hosts = spec["hosts"]
        if not _whole(hosts) or hosts < 1:
            raise ValueError(
                f"tier {echo(name)}: hosts must be a whole number >= 1, got {echo(hosts)}"
            )
        prefix = prefix_for_hosts(hosts)
        if prefix < vpc.prefixlen:
            raise ValueError(
                f"tier {echo(name)}: {hosts} hosts need a /{prefix} subnet, "
                f"larger than the VPC {vpc}"
            )
        return prefix
    prefix = spec["prefix"]
    if not _whole(prefix):
        raise ValueError(f"tier {echo(name)}: prefix must be a whole number, got {echo(prefix)}")
    if prefix > AWS_MAX_PREFIX:
        raise ValueError(f"tier {echo(name)}: /{prefix} is smaller than the /28 AWS allows")
    if prefix < vpc.prefixlen:
        raise ValueError(f"tier {echo(name)}: /{prefix} is larger than the VPC {vpc}")
    return int(prefix)


def parse_tier(spec: Any, vpc: ipaddress.IPv4Network) -> Tier:
    """Validate one tier mapping; every message names the tier."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"each tier must be a mapping with a name, got {echo(spec)}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"each tier needs a non-empty string 'name', got {echo(spec)}")
    unknown = sorted(set(spec) - _TIER_KEYS)
    if unknown:
        raise ValueError(f"tier {echo(name)}: unknown key(s) {clip(', '.join(map(str, unknown)))}")
    offset = spec.get("offset")
    if offset is not None and (not _whole(offset) or offset < 0):
        raise ValueError(
            f"tier {echo(name)}: offset must be a whole number >= 0, got {echo(offset)}"
        )
    return Tier(name, _tier_size(name, spec, vpc), offset)


def parse_zones(zones: Any) -> list[str]:
    """A non-empty list of distinct, non-empty zone names."""
    if isinstance(zones, str) or not isinstance(zones, Sequence) or not zones:
        raise ValueError(f"zones must be a non-empty list of availability zones, got {echo(zones)}")
    seen: set[str] = set()
    for zone in zones:
        if not isinstance(zone, str) or not zone:
            raise ValueError(f"each zone must be a non-empty string, got {echo(zone)}")
        if zone in seen:
            raise ValueError(f"duplicate zone {echo(zone)}")
        seen.add(zone)
    return list(zones)


def _place_tier(
    tier: Tier, zones: list[str], vpc: ipaddress.IPv4Network, packed_end: int
) -> list[_Placed]:
    """One subnet per zone for ``tier``; ``packed_end`` is where packing resumes."""
    base = int(vpc.network_address)
    size = 1 << (32 - tier.prefix)
    capacity = vpc.num_addresses // size
    if tier.offset is None:
        first = -(-(packed_end - base) // size)  # ceiling division: align up to the size
        if first + len(zones) > capacity:
            after = f"after {_dotted(packed_end - 1)}" if packed_end > base else "at all"
            raise ValueError(
                f"tier {echo(tier.name)} does not fit: the VPC {vpc} has no room for "
                f"{len(zones)} more /{tier.prefix} subnet(s) {after}"
            )
    else:
        first = tier.offset
        if first + len(zones) > capacity:
            raise ValueError(
                f"tier {echo(tier.name)}: offset {first} with {len(zones)} zone(s) puts subnets "
                f"outside the VPC {vpc}: it holds /{tier.prefix} subnet numbers "
                f"0..{capacity - 1}, the tier needs {first}..{first + len(zones) - 1}"
            )
    return [
        _Placed(base + (first + index) * size, size, tier.name, zone)
        for index, zone in enumerate(zones)
    ]


def _check_overlaps(placed: list[_Placed]) -> None:
    """Fail on the first two subnets that share an address, naming both tiers."""
    ordered = sorted(placed, key=lambda item: (item.start, -item.size))
    for previous, current in itertools.pairwise(ordered):
        if current.start < previous.start + previous.size:
            raise ValueError(
                f"tier {echo(current.tier)} subnet {_cidr(current.start, current.size)} "
                f"({clip(current.zone)}) overlaps tier {echo(previous.tier)} subnet "
                f"{_cidr(previous.start, previous.size)} ({clip(previous.zone)})"
            )


def _check_names(tiers: list[Tier], zones: list[str]) -> None:
    """Tier names are unique and no two (tier, zone) pairs make the same subnet name."""
    owners: dict[str, str] = {}
    seen: set[str] = set()
    for tier in tiers:
        if tier.name in seen:
            raise ValueError(f"duplicate tier name {echo(tier.name)}")
        seen.add(tier.name)
        for zone in zones:
            name = f"{tier.name}-{zone}"
            if name in owners:
                raise ValueError(
                    f"tier {echo(tier.name)}: subnet name {echo(name)} is also made by tier "
                    f"{echo(owners[name])}; rename one of them"
                )
            owners[name] = tier.name


def plan_subnets(
    vpc_cidr: Any, tiers: Any, zones: Any, *, min_vpc_prefix: int = AWS_MIN_VPC_PREFIX
) -> list[dict[str, Any]]:
    """Subnets ``{name, tier, zone, cidr, usable_hosts}`` by tier then zone, input order.

    ``min_vpc_prefix`` exists for benchmarks and non-AWS planning; the filter keeps AWS's /16.
    """
    vpc = parse_vpc(vpc_cidr, min_vpc_prefix)
    zone_list = parse_zones(zones)
    if isinstance(tiers, str) or not isinstance(tiers, Sequence) or not tiers:
        raise ValueError(f"tiers must be a non-empty list of tier mappings, got {echo(tiers)}")
    tier_list = [parse_tier(spec, vpc) for spec in tiers]
    _check_names(tier_list, zone_list)
    placed: list[_Placed] = []
    packed_end = int(vpc.network_address)
    for tier in tier_list:
        subnets = _place_tier(tier, zone_list, vpc, packed_end)
        packed_end = max(packed_end, subnets[-1].start + subnets[-1].size)
        placed.extend(subnets)
    _check_overlaps(placed)
    return [
        {
            "name": f"{item.tier}-{item.zone}",
            "tier": item.tier,
            "zone": item.zone,
            "cidr": _cidr(item.start, item.size),
            "usable_hosts": item.size - AWS_RESERVED,
        }
        for item in placed
    ]
