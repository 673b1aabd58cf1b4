"""sg_rules: the design's table, what ec2_security_group accepts, merging, and every rejection."""

from __future__ import annotations

import ast
import copy
import ipaddress
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible_collections.amazon.aws.plugins.modules as aws_modules
import pytest
import yaml
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import sg_rules
from hypothesis import given
from hypothesis import strategies as st

PREFIX = "ideation-prod-"
Rule = tuple[str, int | None, int | None, str]  # proto, from_port, to_port, peer

# Section 3 of the design, transcribed: group -> direction -> {(proto, from, to, peer)}.
DESIGN_TABLE: dict[str, dict[str, set[Rule]]] = {
    "nginx": {
        "ingress": {("tcp", 80, 80, "world"), ("tcp", 443, 443, "world")},
        "egress": {("all", None, None, "api")},  # "All traffic to API Security Group"
    },
    "api": {
        "ingress": {("tcp", 8000, 8000, "nginx"), ("tcp", 22, 22, "bastion")},
        "egress": {
            ("tcp", 5432, 5432, "database"),
            ("tcp", 6379, 6379, "redis"),
            ("tcp", 443, 443, "world"),
        },
    },
    "database": {"ingress": {("tcp", 5432, 5432, "api")}, "egress": set()},
    "redis": {"ingress": {("tcp", 6379, 6379, "api")}, "egress": set()},
    "bastion": {
        "ingress": {("tcp", 22, 22, "admin")},
        "egress": {("tcp", 22, 22, "api"), ("tcp", 5432, 5432, "database")},
    },
}


def _peer(rule: dict[str, Any], named: dict[str, str]) -> str:
    if "group_name" in rule:
        return rule["group_name"].removeprefix(PREFIX)
    cidr = rule.get("cidr_ip") or rule["cidr_ipv6"]
    if cidr == "0.0.0.0/0":
        return "world"
    return next((name for name, value in named.items() if value == cidr), cidr)


def _table(output: list[dict[str, Any]], named: dict[str, str]) -> dict[str, dict[str, set[Rule]]]:
    return {
        group["name"].removeprefix(PREFIX): {
            direction: {
                (r["proto"], r.get("from_port"), r.get("to_port"), _peer(r, named))
                for r in group[key]
            }
            for direction, key in (("ingress", "rules"), ("egress", "rules_egress"))
        }
        for group in output
    }


def _design_only(matrix: dict[str, Any]) -> dict[str, Any]:
    """The prod matrix reduced to the design's groups and to entries without a ``why``."""
    reduced = copy.deepcopy(matrix)
    reduced["groups"] = [
        {
            **group,
            "ingress": [e for e in group.get("ingress") or [] if "why" not in e],
            "egress": [e for e in group.get("egress") or [] if "why" not in e],
        }
        for group in reduced["groups"]
        if group["name"] in DESIGN_TABLE
    ]
    reduced["world"] = {k: v for k, v in matrix["world"].items() if k in DESIGN_TABLE}
    return reduced


def test_design_entries_are_section_3(network: Callable[[str], dict[str, Any]]) -> None:
    data = network("prod")
    matrix = data["network_security_groups"]
    output = sg_rules(_design_only(matrix), name_prefix=PREFIX)
    assert [g["name"] for g in output] == [PREFIX + name for name in DESIGN_TABLE]
    assert _table(output, data["network_named_cidrs"]) == DESIGN_TABLE


def test_additions_never_narrow_a_design_rule(network: Callable[[str], dict[str, Any]]) -> None:
    data = network("prod")
    full = _table(sg_rules(data["network_security_groups"], PREFIX), data["network_named_cidrs"])
    for group, directions in DESIGN_TABLE.items():
        for direction, rules in directions.items():
            for proto, low, high, peer in rules:
                assert any(
                    (p == proto or p == "all") and (p == "all" or lo <= low <= high <= hi)
                    for p, lo, hi, other in full[group][direction]
                    if other == peer
                ), (group, direction, proto, low, peer)


def _module_suboptions() -> dict[str, dict[str, Any]]:
    """rules/rules_egress suboptions from amazon.aws.ec2_security_group's own documentation."""
    source = Path(aws_modules.__path__[0], "ec2_security_group.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            options = yaml.safe_load(node.value.value)["options"]  # type: ignore[attr-defined]
            return {key: options[key]["suboptions"] for key in ("rules", "rules_egress")}
    raise AssertionError("ec2_security_group has no DOCUMENTATION")


_PYTHON_TYPES = {"int": int, "str": str, "list": (list, str)}  # the module takes str for lists


def test_every_rule_is_accepted_by_ec2_security_group(
    network: Callable[[str], dict[str, Any]],
) -> None:
    data = network("prod")
    output = sg_rules(data["network_security_groups"], PREFIX)
    descriptions = {g["name"]: g["description"] for g in output}
    suboptions = _module_suboptions()
    for group in output:
        assert set(group) == {"name", "description", "rules", "rules_egress"}
        for key in ("rules", "rules_egress"):
            for rule in group[key]:
                for option, value in rule.items():
                    spec = suboptions[key][option]
                    assert isinstance(value, _PYTHON_TYPES[spec["type"]]), (option, value)
                targets = [k for k in ("group_name", "cidr_ip", "cidr_ipv6") if k in rule]
                assert len(targets) == 1
                if "group_name" in rule:  # the module can create a group referenced early
                    assert rule["group_desc"] == descriptions[rule["group_name"]]
                if rule["proto"] in ("tcp", "udp"):
                    assert 0 <= rule["from_port"] <= rule["to_port"] <= 65535
    by_name = {g["name"]: g for g in output}
    assert by_name[PREFIX + "database"]["rules_egress"] == []
    assert by_name[PREFIX + "redis"]["rules_egress"] == []


# --- merging: random entries for group "a", checked over a small port domain ------------------

PORTS = range(0, 41)
PROTOS = ("tcp", "udp", "icmp", "47")
PEERS = ("a", "b", "self", "world", "office", "10.0.0.0/8", "2001:db8::/32")
NAMED = {"office": "192.0.2.0/24"}


def _peer_key(name: str) -> str:
    if name == "self":
        return "a"
    if name == "world":
        return "0.0.0.0/0"
    if name in ("a", "b"):
        return name
    return str(ipaddress.ip_network(NAMED.get(name, name)))


def _expand(proto: str, low: int | None, high: int | None, peer: str) -> set[tuple[str, ...]]:
    """What one rule lets through, over the small domain."""
    if proto == "all":
        return {(peer, p, str(port)) for p in ("tcp", "udp") for port in PORTS} | {
            (peer, p, "-") for p in ("icmp", "47")
        }
    if proto in ("tcp", "udp"):
        assert low is not None and high is not None
        return {(peer, proto, str(port)) for port in range(low, high + 1)}
    return {(peer, proto, "-")}


port_specs = st.one_of(
    st.sampled_from(PORTS),
    st.tuples(st.sampled_from(PORTS), st.integers(0, 6)).map(
        lambda t: f"{t[0]}-{min(t[0] + t[1], 40)}"
    ),
)
entries = st.fixed_dictionaries(
    {
        "peer": st.one_of(st.sampled_from(PEERS), st.lists(st.sampled_from(PEERS), min_size=1)),
        "proto": st.sampled_from((*PROTOS, "all", "tcp", "tcp")),
        "ports": st.lists(port_specs, min_size=1, max_size=4),
        "desc": st.sampled_from([None, "one", "two"]),
    }
)


def _matrix(ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> dict[str, Any]:
    def entry(raw: dict[str, Any], key: str) -> dict[str, Any]:
        result: dict[str, Any] = {key: raw["peer"], "proto": raw["proto"]}
        if raw["proto"] in ("tcp", "udp"):
            result["ports"] = raw["ports"]
        if raw["desc"]:
            result["desc"] = raw["desc"]
        return result

    return {
        "named_cidrs": NAMED,
        "world": {"a": {"ingress": "all", "egress": "all"}},
        "groups": [
            {
                "name": "a",
                "description": "group a",
                "ingress": [entry(e, "from") for e in ingress],
                "egress": [entry(e, "to") for e in egress],
            },
            {"name": "b", "description": "group b"},
        ],
    }


def _input_semantics(raw: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    allowed: set[tuple[str, ...]] = set()
    for entry in raw:
        peers = entry["peer"] if isinstance(entry["peer"], list) else [entry["peer"]]
        for peer in peers:
            if entry["proto"] in ("tcp", "udp"):
                for spec in entry["ports"]:
                    low, _, high = str(spec).partition("-")
                    allowed |= _expand(entry["proto"], int(low), int(high or low), _peer_key(peer))
            else:
                allowed |= _expand(entry["proto"], None, None, _peer_key(peer))
    return allowed


def _output_semantics(rules: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    allowed: set[tuple[str, ...]] = set()
    for rule in rules:
        peer = rule.get("group_name") or rule.get("cidr_ip") or rule["cidr_ipv6"]
        allowed |= _expand(rule["proto"], rule.get("from_port"), rule.get("to_port"), peer)
    return allowed


def _assert_minimal(rules: list[dict[str, Any]]) -> None:
    by_peer: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        peer = rule.get("group_name") or rule.get("cidr_ip") or rule["cidr_ipv6"]
        by_peer.setdefault(peer, []).append(rule)
    for peer_rules in by_peer.values():
        if any(r["proto"] == "all" for r in peer_rules):
            assert len(peer_rules) == 1  # all swallows the rest
        for proto in {r["proto"] for r in peer_rules}:
            same = sorted(
                (r.get("from_port", -2), r.get("to_port", -2))
                for r in peer_rules
                if r["proto"] == proto
            )
            if proto not in ("tcp", "udp"):
                assert len(same) == 1
            for (_, high), (low, _) in itertools.pairwise(same):
                assert low > high + 1  # neither overlapping nor touching


@given(st.lists(entries, max_size=8), st.lists(entries, max_size=8))
def test_merging_keeps_meaning_and_is_minimal(
    ingress: list[dict[str, Any]], egress: list[dict[str, Any]]
) -> None:
    output = sg_rules(_matrix(ingress, egress))
    group = output[0]
    assert _output_semantics(group["rules"]) == _input_semantics(ingress)
    assert _output_semantics(group["rules_egress"]) == _input_semantics(egress)
    _assert_minimal(group["rules"])
    _assert_minimal(group["rules_egress"])


@given(st.lists(entries, max_size=8), st.randoms(use_true_random=False))
def test_output_ignores_entry_order(raw: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(raw)
    rnd.shuffle(shuffled)
    assert sg_rules(_matrix(raw, raw)) == sg_rules(_matrix(shuffled, shuffled))


@given(st.lists(entries, max_size=8))
def test_output_fed_back_is_a_fixed_point(raw: list[dict[str, Any]]) -> None:
    first = sg_rules(_matrix(raw, []))[0]["rules"]
    again = [
        {
            "peer": rule.get("group_name") or rule.get("cidr_ip") or rule["cidr_ipv6"],
            "proto": rule["proto"],
            "ports": [f"{rule.get('from_port')}-{rule.get('to_port')}"],
            "desc": None,
        }
        for rule in first
    ]
    second = sg_rules(_matrix(again, []))[0]["rules"]
    strip = [{k: v for k, v in r.items() if k != "rule_desc"} for r in first]
    assert [{k: v for k, v in r.items() if k != "rule_desc"} for r in second] == strip


def test_descriptions_merge_sorted_and_generated_when_absent() -> None:
    matrix = {
        "groups": [
            {
                "name": "web",
                "description": "web",
                "ingress": [
                    {"from": "10.0.0.0/8", "ports": "81-90", "desc": "zeta"},
                    {"from": "10.0.0.0/8", "ports": 80, "desc": "alpha"},
                    {"from": "10.0.0.0/8", "ports": 80, "desc": "alpha"},
                    {"from": "10.0.0.0/8", "proto": "udp", "ports": 53},
                ],
            }
        ]
    }
    rules = sg_rules(matrix)[0]["rules"]
    assert rules == [
        {
            "proto": "tcp",
            "from_port": 80,
            "to_port": 90,
            "cidr_ip": "10.0.0.0/8",
            "rule_desc": "alpha; zeta",
        },
        {
            "proto": "udp",
            "from_port": 53,
            "to_port": 53,
            "cidr_ip": "10.0.0.0/8",
            "rule_desc": "udp 53 from 10.0.0.0/8",
        },
    ]


def test_protocols_and_peers_map_to_module_options() -> None:
    matrix = {
        "named_cidrs": {"v6office": "2001:db8:1::/48"},
        "groups": [
            {
                "name": "g",
                "description": "g",
                "ingress": [
                    {"from": "self", "proto": "icmp"},
                    {"from": "v6office", "proto": 58},
                    {"from": "10.1.0.0/16", "proto": "6", "ports": 22},
                    {"from": "10.2.0.0/16", "proto": "47"},
                ],
            }
        ],
    }
    rules = sg_rules(matrix, "p-")[0]["rules"]
    assert {"proto": "tcp", "from_port": 22, "to_port": 22, "cidr_ip": "10.1.0.0/16"}.items() <= (
        rules[0].items()
    )
    by_proto = {r["proto"]: r for r in rules}
    assert by_proto["icmp"]["group_name"] == "p-g" and by_proto["icmp"]["from_port"] == -1
    assert by_proto["icmpv6"]["cidr_ipv6"] == "2001:db8:1::/48"
    assert "from_port" not in by_proto["47"] and by_proto["47"]["cidr_ip"] == "10.2.0.0/16"


def _one(entry: dict[str, Any], direction: str = "ingress", **top: Any) -> dict[str, Any]:
    return {
        "groups": [
            {"name": "web", "description": "web servers", direction: [entry]},
            {"name": "db", "description": "databases"},
        ],
        **top,
    }


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (
            _one({"from": "dbb", "ports": 5432}),
            "group 'web' ingress entry 1: unknown group or named",
        ),
        (_one({"to": "admin", "ports": 22}, "egress"), "unknown group or named CIDR 'admin'"),
        (_one({"from": "db", "ports": 70000}), "bad port 70000"),
        (_one({"from": "db", "ports": -1}), "bad port -1"),
        (_one({"from": "db", "ports": "90-80"}), "bad port '90-80'"),
        (_one({"from": "db", "ports": "1-2-3"}), "bad port '1-2-3'"),
        (_one({"from": "db", "ports": "http"}), "bad port 'http'"),
        (_one({"from": "db", "ports": True}), "bad port True"),
        (_one({"from": "db", "ports": []}), "'ports' is empty"),
        (_one({"from": "db"}), "tcp needs 'ports'"),
        (_one({"from": "db", "proto": "tcpp", "ports": 1}), "bad protocol 'tcpp'"),
        (_one({"from": "db", "proto": 256}), "bad protocol 256"),
        (_one({"from": "db", "proto": True}), "bad protocol True"),
        (_one({"from": "db", "proto": "all", "ports": 1}), "protocol all takes no 'ports'"),
        (_one({"from": "db", "proto": "icmp", "ports": 8}), "protocol icmp takes no 'ports'"),
        (_one({"from": "db", "port": 22}), "group 'web' ingress entry 1: unknown key(s) port"),
        (_one({"to": "db", "ports": 22}), "unknown key(s) to"),
        (_one({"ports": 22}), "missing 'from'"),
        (_one({"from": "", "ports": 22}), "a peer must be a non-empty string"),
        (_one({"from": "10.0.0.1/8", "ports": 22}), "'10.0.0.1/8' is not a valid CIDR block"),
        (_one({"from": "db", "ports": 22, "desc": "don't"}), "desc must be 1-255 characters"),
        (_one({"from": "db", "ports": 22, "desc": "caf\u00e9"}), "desc must be 1-255 characters"),
        (_one({"from": "db", "ports": 22, "desc": "x" * 256}), "desc must be 1-255 characters"),
        (_one({"from": "db", "ports": 22, "why": ""}), "'why' must be a non-empty string"),
        (_one("db"), "each entry must be a mapping"),
        # the world: only what world.<group>.<direction> lists
        (
            _one({"from": "world", "ports": 22}),
            "is open to the world, but world.web.ingress allows",
        ),
        (
            _one({"from": "world", "ports": 22}, world={"web": {"ingress": [80, 443]}}),
            "tcp port(s) 22-22 from 0.0.0.0/0 is open to the world",
        ),
        (
            _one({"from": "world", "ports": "80-443"}, world={"web": {"ingress": [80, 443]}}),
            "port(s) 80-443",
        ),
        (
            _one({"from": "world", "proto": "all"}, world={"web": {"ingress": [80, 443]}}),
            "all all ports from 0.0.0.0/0 is open to the world",
        ),
        (
            _one({"to": "world", "ports": 443}, "egress", world={"web": {"ingress": [443]}}),
            "world.web.egress allows nothing",
        ),
        (_one({"from": "::/0", "ports": 80}), "tcp port(s) 80-80 from ::/0 is open to the world"),
        (
            _one(
                {"from": "anyone", "ports": 80},
                named_cidrs={"anyone": "0.0.0.0/0"},
                limits={"named_cidr_widest": {"ipv4": 0}},
            ),
            "from 0.0.0.0/0 is open to the world",
        ),
        (
            _one({"from": "db", "ports": 1}, world={"nope": {"ingress": [80]}}),
            "unknown group 'nope'",
        ),
        (_one({"from": "db", "ports": 1}, world={"web": {"in": [80]}}), "unknown key(s) in"),
        (_one({"from": "db", "ports": 1}, world={"web": {"ingress": [0.5]}}), "bad port 0.5"),
        (_one({"from": "db", "ports": 1}, world=["web"]), "world must be a mapping"),
        # named CIDRs
        (
            _one({"from": "db", "ports": 1}, named_cidrs={"db": "10.0.0.0/8"}),
            "already a group name",
        ),
        (_one({"from": "db", "ports": 1}, named_cidrs={"self": "10.0.0.0/8"}), "reserved word"),
        (_one({"from": "db", "ports": 1}, named_cidrs={"x": "10.0.0.0"}), "not a CIDR block"),
        (_one({"from": "db", "ports": 1}, named_cidrs="{{ x }}"), "named_cidrs must be a mapping"),
        # groups and the matrix itself
        (
            {"groups": [{"name": "a", "description": "x"}, {"name": "a", "description": "y"}]},
            "duplicate group name 'a'",
        ),
        ({"groups": [{"name": "a"}]}, "group 'a': description must be"),
        ({"groups": [{"name": "self", "description": "x"}]}, "the name is reserved"),
        ({"groups": [{"name": "a b'", "description": "x"}]}, "name must be 1-255 characters"),
        ({"groups": [{"name": "a", "description": "x", "ingres": []}]}, "unknown key(s) ingres"),
        (
            {"groups": [{"name": "a", "description": "x", "ingress": {"from": "a"}}]},
            "must be a list",
        ),
        ({"groups": [{"description": "x"}]}, "each group must be a mapping with a string 'name'"),
        ({"groups": []}, "groups must be a non-empty list"),
        (
            {"groups": [{"name": "a", "description": "x"}], "group": []},
            "matrix: unknown key(s) group",
        ),
        (["a"], "the matrix must be a mapping"),
    ],
)
def test_rejections(matrix: Any, message: str, rejected_by_filter: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sg_rules(matrix)
    rejected_by_filter(message, "sg_rules", matrix)
    rejected_by_filter(message, "sg_render", matrix, "dot")  # same validation


@pytest.mark.parametrize(
    ("prefix", "message"), [("sg-", "AWS rejects the name 'sg-web'"), (3, "name_prefix must be")]
)
def test_name_prefix_rejections(prefix: Any, message: str, rejected_by_filter: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sg_rules(_one({"from": "db", "ports": 1}), prefix)
    rejected_by_filter(message, "sg_rules", _one({"from": "db", "ports": 1}), name_prefix=prefix)


def test_world_allow_list_accepts_exactly_what_it_lists() -> None:
    matrix = _one(
        {"from": ["world", "::/0"], "ports": [80, "443"]}, world={"web": {"ingress": ["80", 443]}}
    )
    rules = sg_rules(matrix)[0]["rules"]
    assert {(r["from_port"], r.get("cidr_ip") or r["cidr_ipv6"]) for r in rules} == {
        (80, "0.0.0.0/0"),
        (443, "0.0.0.0/0"),
        (80, "::/0"),
        (443, "::/0"),
    }
    everything = _one({"to": "world", "proto": "all"}, "egress", world={"web": {"egress": "all"}})
    assert sg_rules(everything)[0]["rules_egress"][0]["proto"] == "all"
