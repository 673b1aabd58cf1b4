"""Questions about rendered security groups (the output of sg_rules), in plain Python.

Used where a role needs what a group admits, e.g. the bastion's fail2ban never banning the
networks its security group lets in on SSH.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WORLD = ("0.0.0.0/0", "::/0")


def admitted_cidrs(groups: Iterable[Mapping[str, Any]], group: str, port: int) -> list[str]:
    """The CIDR blocks group's ingress rules admit on TCP port (a rule of protocol all too),
    the world excluded, sorted and unique. An unknown group admits nothing."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be a TCP port (1-65535), got {str(port)[:40]!r}")
    found: set[str] = set()
    for rendered in groups:
        if rendered.get("name") != group:
            continue
        for rule in rendered.get("rules", []):
            proto = str(rule.get("proto", ""))
            if proto not in ("all", "-1", "tcp"):
                continue
            if proto == "tcp" and not rule.get("from_port", 0) <= port <= rule.get("to_port", -1):
                continue
            cidr = rule.get("cidr_ip") or rule.get("cidr_ipv6") or ""
            if cidr and cidr not in WORLD:
                found.add(cidr)
    return sorted(found)
