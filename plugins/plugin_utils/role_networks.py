"""Which subnets an instance role runs in, from the subnet plan and the auto-scaling groups.

Used where a rule must name the networks of some roles only, e.g. nginx's rate-limit allowlist:
the subnets of the monitoring and bastion tiers, not the whole VPC.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from .echo import echo


def role_subnet_cidrs(
    subnets: Iterable[Mapping[str, Any]], asgs: Mapping[str, Any], roles: Iterable[str]
) -> list[str]:
    """The CIDR blocks of the subnets of the tiers the roles' auto-scaling groups launch into,
    sorted by address and unique. ``subnets`` is subnet_plan's output, ``asgs`` maps a role to
    its group (with a ``tier``). A role without a group, a group without a tier, or a tier
    without a subnet is an error: an allowlist must never silently come out empty."""
    if isinstance(roles, (str, bytes)) or not isinstance(roles, Iterable):
        raise ValueError(f"roles must be a list of role names, got {echo(roles)}")
    if not isinstance(asgs, Mapping):
        raise ValueError(f"asgs must map role names to auto-scaling groups, got {echo(asgs)}")
    by_tier: dict[str, list[str]] = {}
    for subnet in subnets:
        if not isinstance(subnet, Mapping) or "tier" not in subnet or "cidr" not in subnet:
            raise ValueError(
                f"each subnet needs a tier and a cidr (subnet_plan's output), got {echo(subnet)}"
            )
        by_tier.setdefault(str(subnet["tier"]), []).append(str(subnet["cidr"]))
    found: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for role in roles:
        group = asgs.get(role)
        if not isinstance(group, Mapping):
            raise ValueError(f"role {echo(role)} has no auto-scaling group")
        tier = group.get("tier")
        if not tier:
            raise ValueError(f"the auto-scaling group of role {echo(role)} names no tier")
        if str(tier) not in by_tier:
            raise ValueError(f"role {echo(role)} runs in tier {echo(tier)}, which has no subnet")
        found.update(ipaddress.ip_network(cidr) for cidr in by_tier[str(tier)])
    return [str(net) for net in sorted(found, key=lambda n: (n.version, n))]
