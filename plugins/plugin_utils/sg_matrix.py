"""A declarative security-group matrix turned into minimal, deterministic firewall rules.

The matrix (documented in the ``sg_rules`` filter) names groups, named CIDRs and the only ports
open to the world. ``build_matrix`` validates it and merges its entries per group and
direction: duplicates vanish, overlapping or adjacent port ranges of one peer and protocol
collapse, and an ``all`` rule swallows every other rule of the same peer. ``module_groups``
shapes the result for ``amazon.aws.ec2_security_group``; ``network_render`` draws it.
No Ansible import: the filter wrappers turn ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from ansible_collections.ideation.platform.plugins.plugin_utils.echo import clip, echo, reason

DIRECTIONS = ("ingress", "egress")
PEER_KEY = {"ingress": "from", "egress": "to"}
PROTOCOL_NAMES = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmpv6", "all": "all"}
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "-1": "all"}
PROTOCOL_ORDER = {"tcp": 0, "udp": 1, "icmp": 2, "icmpv6": 3, "all": 4}
WORLD_CIDRS = ("0.0.0.0/0", "::/0")
RESERVED_PEERS = ("self", "world")
AWS_TEXT = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")
_TOP_KEYS = frozenset({"groups", "named_cidrs", "world", "limits"})
_LIMIT_KEYS = frozenset({"max_open_share", "named_cidr_widest", "rules_per_group"})
_GROUP_KEYS = frozenset({"name", "description", "ingress", "egress"})
_ENTRY_KEYS = {
    direction: frozenset({"proto", "ports", "desc", "why", PEER_KEY[direction]})
    for direction in DIRECTIONS
}
_DESC_LIMIT = 255
# Defaults of the matrix's ``limits``: a peer set may open at most 1 % of an address family on a
# port outside ``world``; a named CIDR (the operators' admin address) is at most a /24 or /48;
# AWS's default quota is 60 inbound and 60 outbound rules per group, IPv4 and IPv6 counted apart.
DEFAULT_MAX_OPEN_SHARE = Fraction(1, 100)
DEFAULT_NAMED_CIDR_WIDEST = {4: 24, 6: 48}
DEFAULT_RULES_PER_GROUP = 60
_FAMILY_NAMES = {4: "ipv4", 6: "ipv6"}
_FAMILY_BITS = {4: 32, 6: 128}


@dataclass(frozen=True)
class Peer:
    """Where traffic comes from or goes to: a logical group or a CIDR block."""

    kind: str  # "group" or "cidr"
    value: str  # logical group name, or canonical CIDR text
    label: str = field(compare=False)  # as the matrix said it: self, world, admin, a CIDR

    @property
    def is_world(self) -> bool:
        return self.kind == "cidr" and self.value in WORLD_CIDRS


class Atom(NamedTuple):
    """One peer, protocol and port range, as one matrix entry declares it."""

    peer: Peer
    proto: str
    low: int | None
    high: int | None
    desc: str | None
    why: str | None


@dataclass(frozen=True)
class Rule:
    """A merged rule: what one ``ec2_security_group`` rule will say."""

    peer: Peer
    proto: str
    low: int | None
    high: int | None
    descs: tuple[str, ...]
    whys: tuple[str, ...]
    from_design: bool  # at least one contributing entry has no ``why``

    @property
    def ports(self) -> str:
        """Human form of the port range: ``22``, ``8000-8010``, ``all``."""
        if self.low is None or self.low == -1:
            return "all"
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class Group:
    """A security group with its merged ingress and egress rules."""

    name: str
    description: str
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == "ingress" else self.egress


@dataclass(frozen=True)
class Limits:
    """What the matrix may open, beyond the world allow-list (the matrix's ``limits``)."""

    max_open_share: Fraction = DEFAULT_MAX_OPEN_SHARE
    named_cidr_widest: Mapping[int, int] = field(
        default_factory=lambda: dict(DEFAULT_NAMED_CIDR_WIDEST)
    )
    rules_per_group: int = DEFAULT_RULES_PER_GROUP


@dataclass(frozen=True)
class _Context:
    groups: Mapping[str, str]  # logical name -> description
    named: Mapping[str, str]  # named CIDR -> canonical CIDR
    world: Mapping[tuple[str, str], list[tuple[int, int]] | None]  # None: everything allowed
    limits: Limits = field(default_factory=Limits)


def _where(group: str, direction: str | None = None, index: int | None = None) -> str:
    place = f"group {echo(group)}"
    if direction:
        place += f" {direction}"
    if index is not None:
        place += f" entry {index + 1}"
    return place


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, int)) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], place: str) -> None:
    unknown = mapping.keys() - allowed
    if unknown:
        raise ValueError(f"{place}: unknown key(s) {clip(', '.join(sorted(map(str, unknown))))}")


def _aws_text(value: Any, place: str, what: str) -> str:
    if not isinstance(value, str) or not AWS_TEXT.fullmatch(value):
        raise ValueError(
            f"{place}: {what} must be 1-255 characters of a-z A-Z 0-9 space ._-:/()#,@[]+=&;{{}}!$*"
            f" (AWS's rule), got {echo(value)}"
        )
    return value


@functools.lru_cache(maxsize=4096)
def _canonical_cidr(text: str) -> str:
    return str(ipaddress.ip_network(text))  # matrices repeat their peers: parse each once


def parse_cidr(text: Any, place: str) -> str:
    """A CIDR block in canonical form; host bits set is an error (AWS would mask them)."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"{place}: {echo(text)} is not a CIDR block like 192.0.2.0/24")
    try:
        return _canonical_cidr(str(text))
    except ValueError as exc:
        raise ValueError(
            f"{place}: {echo(text)} is not a valid CIDR block: {reason(exc, text)}"
        ) from None


def parse_port(value: Any, place: str) -> tuple[int, int]:
    """``22``, ``"22"`` or ``"8000-8010"`` to an inclusive range within 0..65535."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    low_text, dash, high_text = text.partition("-")
    if not (low_text.isdigit() and low_text.isascii()) or (
        dash and not (high_text.isdigit() and high_text.isascii())
    ):
        raise ValueError(f"{place}: bad port {echo(value)} (use 22, or a range like 8000-8010)")
    low, high = int(low_text), int(high_text) if dash else int(low_text)
    if high > 65535 or low > high:
        raise ValueError(f"{place}: bad port {echo(value)} (ports are 0-65535, low-high)")
    return low, high


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted union of inclusive ranges, joining those that overlap or touch."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def parse_protocol(value: Any, place: str) -> str:
    """``tcp``/``udp``/``icmp``/``icmpv6``/``all`` or an IP protocol number 0-255."""
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or not text:
        raise ValueError(f"{place}: bad protocol {echo(value)}")
    if text in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[text]
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    if text.isdigit() and text.isascii() and int(text) <= 255:
        return str(int(text))
    raise ValueError(
        f"{place}: bad protocol {echo(value)} (use tcp, udp, icmp, icmpv6, all or a number 0-255)"
    )


def _port_ranges(entry: Mapping[str, Any], proto: str, place: str) -> list[tuple[int, int]]:
    """The entry's port ranges; (-1, -1) for ICMP, none for portless protocols."""
    has_ports = entry.get("ports") is not None
    if proto in ("tcp", "udp"):
        if not has_ports:
            raise ValueError(f"{place}: {proto} needs 'ports'")
        ports = _as_list(entry["ports"])
        if not ports:
            raise ValueError(f"{place}: 'ports' is empty")
        return [parse_port(port, place) for port in ports]
    if has_ports:
        raise ValueError(f"{place}: protocol {proto} takes no 'ports'")
    return [(-1, -1)] if proto in ("icmp", "icmpv6") else []


def _resolve_peer(name: Any, group: str, context: _Context, place: str) -> Peer:
    """self, world, a group of the matrix, a named CIDR or a literal CIDR."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{place}: a peer must be a non-empty string, got {echo(name)}")
    if name == "self":
        return Peer("group", group, "self")
    if name == "world":
        return Peer("cidr", "0.0.0.0/0", "world")
    if name in context.groups:
        return Peer("group", name, name)
    if name in context.named:
        return Peer("cidr", context.named[name], name)
    if "/" in name:
        cidr = parse_cidr(name, place)
        return Peer("cidr", cidr, cidr)
    raise ValueError(
        f"{place}: unknown group or named CIDR {echo(name)} (groups: "
        f"{clip(', '.join(context.groups))}; "
        f"named CIDRs: {clip(', '.join(context.named)) or 'none'})"
    )


def _check_world(atom: Atom, group: str, direction: str, context: _Context, place: str) -> None:
    """A rule open to 0.0.0.0/0 or ::/0 must lie within the matrix's world allow-list."""
    if not atom.peer.is_world:
        return
    allowed = context.world.get((group, direction), [])
    if allowed is None:
        return
    low, high = atom.low, atom.high
    if (
        atom.proto in ("tcp", "udp")
        and low is not None
        and high is not None
        and any(first <= low and high <= last for first, last in allowed)
    ):
        return
    ports = "all ports" if atom.low in (None, -1) else f"port(s) {atom.low}-{atom.high}"
    allowed_text = ", ".join(f"{low}-{high}" for low, high in allowed) or "nothing"
    raise ValueError(
        f"{place}: {atom.proto} {ports} {'from' if direction == 'ingress' else 'to'} "
        f"{atom.peer.value} is open to the world, but world.{group}.{direction} allows "
        f"{allowed_text}; add it there if that is really meant"
    )


def parse_entry(
    entry: Any, group: str, direction: str, index: int, context: _Context
) -> list[Atom]:
    """One matrix entry to atoms: one per peer and port range."""
    place = _where(group, direction, index)
    if not isinstance(entry, Mapping):
        raise ValueError(f"{place}: each entry must be a mapping, got {echo(entry)}")
    peer_key = PEER_KEY[direction]
    _check_keys(entry, _ENTRY_KEYS[direction], place)
    if peer_key not in entry:
        raise ValueError(f"{place}: missing {echo(peer_key)} (the peer of an {direction} rule)")
    proto = parse_protocol(entry.get("proto", "tcp"), place)
    desc = entry.get("desc")
    if desc is not None:
        _aws_text(desc, place, "desc")
    why = entry.get("why")
    if why is not None and (not isinstance(why, str) or not why.strip()):
        raise ValueError(f"{place}: 'why' must be a non-empty string, got {echo(why)}")
    peers = [_resolve_peer(name, group, context, place) for name in _as_list(entry[peer_key])]
    ranges: list[tuple[int | None, int | None]] = [*_port_ranges(entry, proto, place)] or [
        (None, None)
    ]
    atoms = [Atom(peer, proto, low, high, desc, why) for peer in peers for low, high in ranges]
    for atom in atoms:
        _check_world(atom, group, direction, context, place)
    return atoms


def _rule_from(
    peer: Peer, proto: str, low: int | None, high: int | None, atoms: list[Atom]
) -> Rule:
    return Rule(
        peer,
        proto,
        low,
        high,
        tuple(sorted({atom.desc for atom in atoms if atom.desc})),
        tuple(sorted({atom.why for atom in atoms if atom.why})),
        any(atom.why is None for atom in atoms),
    )


def _within(atoms: list[Atom], low: int, high: int) -> list[Atom]:
    """The atoms whose range lies in the merged span ``low..high``."""
    return [atom for atom in atoms if atom.low is not None and low <= atom.low <= high]


def merge_atoms(atoms: list[Atom]) -> tuple[Rule, ...]:
    """Minimal rules: per peer, ``all`` absorbs the rest; ranges of one protocol are joined."""
    by_peer: dict[Peer, dict[str, list[Atom]]] = {}
    labels: dict[Peer, set[str]] = {}
    for atom in atoms:
        by_peer.setdefault(atom.peer, {}).setdefault(atom.proto, []).append(atom)
        labels.setdefault(atom.peer, set()).add(atom.peer.label)
    rules: list[Rule] = []
    for key, by_proto in by_peer.items():
        # one label per peer, whatever order the entries came in; names beat bare CIDRs
        label = min(labels[key], key=lambda text: (text == key.value, text))
        peer = Peer(key.kind, key.value, label)
        if "all" in by_proto:
            by_proto = {"all": by_proto["all"]}
        for proto, proto_atoms in by_proto.items():
            if proto_atoms[0].low is None:  # portless: one rule
                rules.append(_rule_from(peer, proto, None, None, proto_atoms))
                continue
            spans = merge_ranges(
                (a.low, a.high) for a in proto_atoms if a.low is not None and a.high is not None
            )
            for low, high in spans:
                rules.append(_rule_from(peer, proto, low, high, _within(proto_atoms, low, high)))
    return tuple(sorted(rules, key=rule_sort_key))


def rule_sort_key(rule: Rule) -> tuple[Any, ...]:
    """Stable order: protocol, ports, then peer (groups before CIDRs)."""
    return (
        PROTOCOL_ORDER.get(rule.proto, 5),
        rule.proto,
        -2 if rule.low is None else rule.low,
        rule.high or 0,
        rule.peer.kind != "group",
        rule.peer.value,
    )


def _parse_named(named: Any, group_names: Iterable[str], limits: Limits) -> dict[str, str]:
    if named is None:
        return {}
    if not isinstance(named, Mapping):
        raise ValueError(f"named_cidrs must be a mapping of name to CIDR, got {echo(named)}")
    groups = set(group_names)
    result: dict[str, str] = {}
    for name, cidr in named.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"named_cidrs: bad name {echo(name)}")
        if name in groups or name in RESERVED_PEERS:
            raise ValueError(f"named_cidrs: {echo(name)} is already a group name or reserved word")
        result[name] = parse_cidr(cidr, f"named CIDR {echo(name)}")
        network = ipaddress.ip_network(result[name])
        widest = limits.named_cidr_widest[network.version]
        if network.prefixlen < widest:
            family = _FAMILY_NAMES[network.version]
            raise ValueError(
                f"named CIDR {echo(name)}: {result[name]} is wider than the /{widest} that "
                f"limits.named_cidr_widest.{family} allows (named CIDRs are operator addresses, "
                "such as admin; open a wide range with a literal CIDR reviewed in the matrix)"
            )
    return result


def _parse_world(world: Any, group_names: Iterable[str]) -> dict[tuple[str, str], Any]:
    """``{group: {ingress|egress: ports or 'all'}}`` to merged allowed ranges per direction."""
    if world is None:
        return {}
    if not isinstance(world, Mapping):
        raise ValueError(f"world must be a mapping of group to directions, got {echo(world)}")
    groups = set(group_names)
    allowed: dict[tuple[str, str], Any] = {}
    for group, directions in world.items():
        place = f"world.{group}"
        if group not in groups:
            raise ValueError(f"{place}: unknown group {echo(group)}")
        if not isinstance(directions, Mapping):
            raise ValueError(f"{place}: must map ingress/egress to ports, got {echo(directions)}")
        _check_keys(directions, DIRECTIONS, place)
        for direction, ports in directions.items():
            if ports == "all":
                allowed[(group, direction)] = None
                continue
            spans = [parse_port(port, f"{place}.{direction}") for port in _as_list(ports)]
            allowed[(group, direction)] = merge_ranges(spans)
    return allowed


def _fraction(value: Any, place: str) -> Fraction:
    """A share in (0, 1]: a number or a fraction's text (``0.01``, ``"1/256"``)."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        share = Fraction(value if not isinstance(value, float) else str(value))
    except (ValueError, ZeroDivisionError, OverflowError):
        share = Fraction(-1)
    if not 0 < share <= 1:
        raise ValueError(f"{place} must be a number in (0, 1], got {echo(value)}")
    return share


def _whole(value: Any, low: int, high: int, place: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{place} must be a whole number {low}-{high}, got {echo(value)}")
    return value


def parse_limits(limits: Any) -> Limits:
    """The matrix's ``limits``, defaults for what it leaves out."""
    if limits is None:
        return Limits()
    if not isinstance(limits, Mapping):
        raise ValueError(f"limits must be a mapping, got {echo(limits)}")
    _check_keys(limits, _LIMIT_KEYS, "limits")
    share = DEFAULT_MAX_OPEN_SHARE
    if limits.get("max_open_share") is not None:
        share = _fraction(limits["max_open_share"], "limits.max_open_share")
    widest = dict(DEFAULT_NAMED_CIDR_WIDEST)
    given = limits.get("named_cidr_widest")
    if given is not None:
        if not isinstance(given, Mapping):
            raise ValueError(f"limits.named_cidr_widest must be a mapping, got {echo(given)}")
        _check_keys(given, _FAMILY_NAMES.values(), "limits.named_cidr_widest")
        for version, family in _FAMILY_NAMES.items():
            if given.get(family) is not None:
                place = f"limits.named_cidr_widest.{family}"
                widest[version] = _whole(given[family], 0, _FAMILY_BITS[version], place)
    quota = DEFAULT_RULES_PER_GROUP
    if limits.get("rules_per_group") is not None:
        quota = _whole(limits["rules_per_group"], 1, 1000, "limits.rules_per_group")
    return Limits(share, widest, quota)


def _share(cidrs: Iterable[str]) -> dict[int, Fraction]:
    """Per IP version, the share of the address space the union of ``cidrs`` covers."""
    networks: dict[int, list[Any]] = {}
    for cidr in set(cidrs):
        network = ipaddress.ip_network(cidr)
        networks.setdefault(network.version, []).append(network)
    return {
        version: Fraction(
            sum(n.num_addresses for n in ipaddress.collapse_addresses(found)),
            2 ** _FAMILY_BITS[version],
        )
        for version, found in networks.items()
    }


def _covers(atom: Atom, proto: str, port: int | None) -> bool:
    if atom.proto == "all":
        return True
    if atom.proto != proto:
        return False
    return port is None or atom.low is None or (atom.low <= port <= (atom.high or 0))


def _pieces(
    atoms: list[Atom], proto: str, allowed: list[tuple[int, int]]
) -> list[tuple[int | None, int | None]]:
    """The port ranges of ``proto`` that ``world`` does not allow, cut where peers change."""
    if proto not in ("tcp", "udp"):
        return [(None, None)]
    cuts = {0, 65536}
    for atom in atoms:
        if atom.proto == proto and atom.low is not None and atom.high is not None:
            cuts |= {atom.low, atom.high + 1}
    for low, high in allowed:
        cuts |= {low, high + 1}
    edges = sorted(cuts)
    return [
        (low, nxt - 1)
        for low, nxt in itertools.pairwise(edges)
        if not any(first <= low <= last for first, last in allowed)
    ]


def check_open_share(
    atoms: list[Atom], allowed: list[tuple[int, int]] | None, limits: Limits, place: str
) -> None:
    """No port outside ``world`` is open to more than ``max_open_share`` of IPv4 or IPv6.

    Catches the world split in pieces (0.0.0.0/1 + 128.0.0.0/1, ::/1 + 8000::/1), a named CIDR
    widened with -e, and many narrower blocks that add up.
    """
    if allowed is None:
        return
    cidr_atoms = [atom for atom in atoms if atom.peer.kind == "cidr"]
    if all(
        share <= limits.max_open_share
        for share in _share(atom.peer.value for atom in cidr_atoms).values()
    ):
        return  # the common case: even all the blocks together are narrow enough
    protos = {atom.proto for atom in cidr_atoms} | {"tcp", "udp"}
    if "all" in protos:
        protos |= {"icmp", "icmpv6"}
    protos.discard("all")
    for proto in sorted(protos, key=lambda name: PROTOCOL_ORDER.get(name, 5)):
        for low, high in _pieces(cidr_atoms, proto, allowed):
            peers = [atom.peer for atom in cidr_atoms if _covers(atom, proto, low)]
            for version, share in sorted(_share(peer.value for peer in peers).items()):
                if share > limits.max_open_share:
                    ports = "" if low is None else f" port(s) {low}-{high}"
                    names = ", ".join(sorted({peer.label for peer in peers}))
                    raise ValueError(
                        f"{place}: {proto}{ports} is open to {clip(names)}, "
                        f"{float(share):.2%} of the {_FAMILY_NAMES[version]} address space, "
                        f"more than limits.max_open_share ({float(limits.max_open_share):.2%}) "
                        "allows outside the world allow-list; list the port under world: "
                        "if it is really meant"
                    )


def check_rule_quota(rules: Sequence[Rule], quota: int, place: str) -> None:
    """AWS's rules-per-group quota, IPv4 and IPv6 counted apart (a group reference counts in
    both), so provisioning does not fail half-way with RulesPerSecurityGroupLimitExceeded."""
    counts = {
        "IPv4": sum(1 for r in rules if r.peer.kind == "group" or ":" not in r.peer.value),
        "IPv6": sum(1 for r in rules if r.peer.kind == "group" or ":" in r.peer.value),
    }
    for family, count in counts.items():
        if count > quota:
            raise ValueError(
                f"{place}: {count} {family} rules, more than the {quota} rules per security "
                "group and direction AWS allows (limits.rules_per_group; a group reference "
                "counts for IPv4 and IPv6); merge peers or split the group"
            )


def _group_headers(groups: Any) -> tuple[list[Mapping[str, Any]], dict[str, str]]:
    """The group mappings, and logical name -> description, with names and descriptions checked."""
    if isinstance(groups, str) or not isinstance(groups, Sequence) or not groups:
        raise ValueError(f"groups must be a non-empty list of group mappings, got {echo(groups)}")
    headers: dict[str, str] = {}
    for group in groups:
        if not isinstance(group, Mapping) or not isinstance(group.get("name"), str):
            raise ValueError(
                f"each group must be a mapping with a string 'name', got {echo(group)}"
            )
        name = group["name"]
        _aws_text(name, f"group {echo(name)}", "name")
        if name in RESERVED_PEERS or "/" in name:
            raise ValueError(f"group {echo(name)}: the name is reserved or looks like a CIDR")
        if name in headers:
            raise ValueError(f"duplicate group name {echo(name)}")
        _check_keys(group, _GROUP_KEYS, f"group {echo(name)}")
        headers[name] = _aws_text(group.get("description"), f"group {echo(name)}", "description")
    return list(groups), headers


def build_matrix(matrix: Any) -> list[Group]:
    """Validate the matrix and return its groups, in matrix order, with merged rules."""
    if not isinstance(matrix, Mapping):
        raise ValueError(f"the matrix must be a mapping with 'groups', got {echo(matrix)}")
    _check_keys(matrix, _TOP_KEYS, "matrix")
    group_specs, headers = _group_headers(matrix.get("groups"))
    limits = parse_limits(matrix.get("limits"))
    context = _Context(
        headers,
        _parse_named(matrix.get("named_cidrs"), headers, limits),
        _parse_world(matrix.get("world"), headers),
        limits,
    )
    result: list[Group] = []
    for spec in group_specs:
        rules: dict[str, tuple[Rule, ...]] = {}
        for direction in DIRECTIONS:
            entries = spec.get(direction) or []
            if isinstance(entries, (str, Mapping)) or not isinstance(entries, Sequence):
                raise ValueError(f"{_where(spec['name'], direction)}: must be a list of entries")
            atoms = [
                atom
                for index, entry in enumerate(entries)
                for atom in parse_entry(entry, spec["name"], direction, index, context)
            ]
            place = _where(spec["name"], direction)
            check_open_share(atoms, context.world.get((spec["name"], direction), []), limits, place)
            rules[direction] = merge_atoms(atoms)
            check_rule_quota(rules[direction], limits.rules_per_group, place)
        result.append(Group(spec["name"], headers[spec["name"]], rules["ingress"], rules["egress"]))
    return result


def rule_description(rule: Rule, direction: str) -> str:
    """The AWS rule description: the entries' ``desc`` joined, or one made from the rule."""
    if rule.descs:
        text = "; ".join(rule.descs)
    else:
        where = "from" if direction == "ingress" else "to"
        text = f"{rule.proto} {rule.ports} {where} {rule.peer.label}"
    return text if len(text) <= _DESC_LIMIT else text[: _DESC_LIMIT - 3] + "..."


def module_rule(
    rule: Rule, direction: str, prefix: str, descriptions: Mapping[str, str]
) -> dict[str, Any]:
    """One rule as ``amazon.aws.ec2_security_group`` takes it."""
    result: dict[str, Any] = {"proto": rule.proto}
    if rule.low is not None:
        result["from_port"] = rule.low
        result["to_port"] = rule.high
    if rule.peer.kind == "group":
        result["group_name"] = prefix + rule.peer.value
        # lets the module create a group referenced before its own loop iteration
        result["group_desc"] = descriptions[rule.peer.value]
    elif ":" in rule.peer.value:
        result["cidr_ipv6"] = rule.peer.value
    else:
        result["cidr_ip"] = rule.peer.value
    result["rule_desc"] = rule_description(rule, direction)
    return result


def module_groups(groups: list[Group], prefix: str = "") -> list[dict[str, Any]]:
    """``[{name, description, rules, rules_egress}]`` for a loop over ec2_security_group."""
    if not isinstance(prefix, str):
        raise ValueError(f"name_prefix must be a string, got {echo(prefix)}")
    descriptions = {group.name: group.description for group in groups}
    result = []
    for group in groups:
        name = prefix + group.name
        if name.lower().startswith("sg-") or len(name) > 255:
            raise ValueError(f"group {echo(group.name)}: AWS rejects the name {echo(name)}")
        result.append(
            {
                "name": name,
                "description": group.description,
                "rules": [module_rule(r, "ingress", prefix, descriptions) for r in group.ingress],
                "rules_egress": [
                    module_rule(r, "egress", prefix, descriptions) for r in group.egress
                ],
            }
        )
    return result


def sg_rules(matrix: Any, name_prefix: str = "") -> list[dict[str, Any]]:
    """The whole pipeline: matrix to ec2_security_group arguments."""
    return module_groups(build_matrix(matrix), name_prefix)
