"""sg_rules' limits: the world split into pieces, wide named CIDRs, and AWS's rule quota."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import (
    DEFAULT_MAX_OPEN_SHARE,
    sg_rules,
)
from hypothesis import example, given
from hypothesis import strategies as st


def _ssh_from(peers: list[str], **top: Any) -> dict[str, Any]:
    """A bastion with SSH from ``peers``; HTTPS (443) is the only world port."""
    return {
        "world": {"bastion": {"ingress": [443]}},
        "groups": [
            {
                "name": "bastion",
                "description": "SSH bastion",
                "ingress": [{"from": peers, "ports": 22}, {"from": "world", "ports": 443}],
            }
        ],
        **top,
    }


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (_ssh_from(["0.0.0.0/1", "128.0.0.0/1"]), "100.00% of the ipv4 address space"),
        (_ssh_from(["::/1", "8000::/1"]), "100.00% of the ipv6 address space"),
        (_ssh_from(["0.0.0.0/2", "64.0.0.0/2"]), "50.00% of the ipv4 address space"),
        (_ssh_from(["0.0.0.0/1"]), "tcp port(s) 22-22 is open to 0.0.0.0/1"),
        # the -e bypass: a named CIDR made wide is refused however wide the limit on names
        (
            _ssh_from(
                ["admin"],
                named_cidrs={"admin": "0.0.0.0/1"},
                limits={"named_cidr_widest": {"ipv4": 0}},
            ),
            "is open to admin, 50.00%",
        ),
        (
            _ssh_from(["admin"], named_cidrs={"admin": "0.0.0.0/1"}),
            "named CIDR 'admin': 0.0.0.0/1 is wider than the /24",
        ),
        (
            _ssh_from(["admin"], named_cidrs={"admin": "2001:db8::/32"}),
            "wider than the /48 that limits.named_cidr_widest.ipv6 allows",
        ),
        (
            _ssh_from(["10.0.0.0/8"], limits={"max_open_share": "1/512"}),
            "more than limits.max_open_share (0.20%)",
        ),
        (_ssh_from(["10.0.0.0/8"], limits={"max_open_share": 0}), "in (0, 1], got 0"),
        (_ssh_from(["10.0.0.0/8"], limits={"max_open_share": "x"}), "in (0, 1], got 'x'"),
        (_ssh_from(["10.0.0.0/8"], limits={"rules_per_group": 0}), "whole number 1-1000"),
        (_ssh_from(["10.0.0.0/8"], limits={"max_share": 1}), "limits: unknown key(s) max_share"),
        (_ssh_from(["10.0.0.0/8"], limits={"named_cidr_widest": {"v4": 8}}), "unknown key(s) v4"),
        (_ssh_from(["10.0.0.0/8"], limits=[]), "limits must be a mapping"),
    ],
)
def test_refused(matrix: Any, message: str, rejected_by_filter: Callable[..., str]) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sg_rules(matrix)
    rejected_by_filter(message, "sg_rules", matrix)


def test_the_world_ports_may_take_any_peers_and_the_defaults_keep_narrow_ones() -> None:
    matrix = _ssh_from(["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "admin"])
    matrix["named_cidrs"] = {"admin": "198.51.100.0/24"}
    matrix["groups"][0]["ingress"].append({"from": ["0.0.0.0/1", "128.0.0.0/1"], "ports": 443})
    rules = sg_rules(matrix)[0]["rules"]
    assert {r.get("cidr_ip") for r in rules if r["from_port"] == 443} >= {"0.0.0.0/1"}
    wide = _ssh_from(["0.0.0.0/1", "128.0.0.0/1"], limits={"max_open_share": 1})
    assert len(sg_rules(wide)[0]["rules"]) == 3  # the limit is configurable


def test_all_protocols_count_against_every_port() -> None:
    matrix = _ssh_from([], limits={"max_open_share": "3/4"})  # each half alone may pass
    matrix["groups"][0]["ingress"] = [
        {"from": "0.0.0.0/1", "proto": "all"},
        {"from": "128.0.0.0/1", "proto": "icmp"},
    ]
    with pytest.raises(ValueError, match=re.escape("icmp is open to 0.0.0.0/1, 128.0.0.0/1")):
        sg_rules(matrix)


def _quota_matrix(v4: int, v6: int, groups: int, **limits: Any) -> dict[str, Any]:
    egress = [{"to": f"10.0.{n}.0/24", "ports": 22} for n in range(v4)]
    egress += [{"to": f"2001:db8:{n:x}::/48", "ports": 22} for n in range(v6)]
    egress += [{"to": f"g{n}", "ports": 22} for n in range(groups)]
    peers = [{"name": f"g{n}", "description": f"peer {n}"} for n in range(groups)]
    return {
        "limits": limits,
        "groups": [{"name": "web", "description": "web", "egress": egress}, *peers],
    }


def test_rules_per_group_quota_counts_ipv4_and_ipv6_apart() -> None:
    assert len(sg_rules(_quota_matrix(60, 60, 0))[0]["rules_egress"]) == 120
    assert len(sg_rules(_quota_matrix(30, 30, 30))[0]["rules_egress"]) == 90
    with pytest.raises(ValueError, match=re.escape("egress: 61 IPv4 rules, more than the 60")):
        sg_rules(_quota_matrix(61, 0, 0))
    with pytest.raises(ValueError, match=re.escape("61 IPv6 rules")):
        sg_rules(_quota_matrix(0, 31, 30))
    with pytest.raises(ValueError, match=re.escape("11 IPv4 rules, more than the 10")):
        sg_rules(_quota_matrix(11, 0, 0, rules_per_group=10))


# --- the bypasses, generated: any set of blocks on port 22 is refused exactly when it is wide --

v4_blocks = st.builds(
    lambda address, length: str(ipaddress.IPv4Network((address, length), strict=False)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 12),
)
v6_blocks = st.builds(
    lambda address, length: str(ipaddress.IPv6Network((address, length), strict=False)),
    st.integers(0, 2**128 - 1),
    st.integers(0, 12),
)


def _wide(blocks: list[str]) -> bool:
    for version in (4, 6):
        found = [n for n in map(ipaddress.ip_network, blocks) if n.version == version]
        total = sum(n.num_addresses for n in ipaddress.collapse_addresses(found))  # type: ignore[arg-type]
        if Fraction(total, 2 ** (32 if version == 4 else 128)) > DEFAULT_MAX_OPEN_SHARE:
            return True
    return False


@given(st.lists(st.one_of(v4_blocks, v6_blocks), min_size=1, max_size=6))
@example(["0.0.0.0/1", "128.0.0.0/1"])
@example(["::/1", "8000::/1"])
@example(["10.0.0.0/8", "11.0.0.0/8", "12.0.0.0/8"])
def test_refused_exactly_when_the_union_is_wide(blocks: list[str]) -> None:
    blocks = [b for b in blocks if b not in ("0.0.0.0/0", "::/0")]  # the world check's case
    if not blocks:
        return
    if _wide(blocks):
        message = "address space, more than limits.max_open_share"
        with pytest.raises(ValueError, match=re.escape(message)):
            sg_rules(_ssh_from(blocks))
    else:
        sg_rules(_ssh_from(blocks))


@given(st.integers(1, 8), st.sampled_from(["0.0.0.0/0", "::/0"]), st.integers(1, 65535))
def test_the_world_split_into_pieces_is_refused(bits: int, world: str, port: int) -> None:
    pieces = [str(n) for n in ipaddress.ip_network(world).subnets(prefixlen_diff=bits)]
    matrix = _ssh_from(pieces)
    matrix["groups"][0]["ingress"][0]["ports"] = port
    if port == 443:
        sg_rules(matrix)  # on a world port the pieces are as allowed as the world itself
    else:
        with pytest.raises(ValueError, match=re.escape("100.00% of the")):
            sg_rules(matrix)
