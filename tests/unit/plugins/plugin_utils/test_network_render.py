"""sg_render's analysis and output: one-sided rules found, prod's flows complete, docs current."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.network_render import (
    EGRESS_ONLY,
    INGRESS_ONLY,
    OPEN,
    Flow,
    flows,
    render,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import build_matrix

ROOT = Path(__file__).resolve().parents[4]
EC2_GROUPS = ("nginx", "api", "celery", "monitoring", "bastion")  # instances Ansible configures


def _matrix(**groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "world": {name: {"egress": "all"} for name in groups},
        "groups": [{"name": name, "description": name, **rules} for name, rules in groups.items()],
    }


def test_one_sided_rules_are_found() -> None:
    groups = build_matrix(
        _matrix(
            a={"egress": [{"to": "b", "ports": 22}, {"to": "c", "ports": [80, 443]}]},
            b={"ingress": [{"from": "c", "ports": 5432}]},
            c={
                "ingress": [{"from": "a", "ports": 80}],
                "egress": [{"to": "world", "ports": 5432}, {"to": "a", "proto": "all"}],
            },
        )
    )
    assert flows(groups) == [
        Flow("a", "b", "tcp", "22", EGRESS_ONLY),  # b does not accept it
        Flow("a", "c", "tcp", "443", EGRESS_ONLY),
        Flow("a", "c", "tcp", "80", OPEN),
        Flow("c", "b", "tcp", "5432", OPEN),  # egress to the world covers a group too
    ]  # c -> a "all" egress needs no partner


def test_ingress_without_egress_is_found() -> None:
    groups = build_matrix(
        _matrix(
            a={"egress": [{"to": "b", "ports": "20-21"}]},
            b={"ingress": [{"from": "a", "ports": "20-22"}]},
        )
    )
    assert flows(groups) == [Flow("a", "b", "tcp", "20-22", INGRESS_ONLY)]


def _prod_groups(network: Callable[[str], dict[str, Any]]) -> list[Any]:
    return build_matrix(network("prod")["network_security_groups"])


def test_prod_has_no_one_sided_rule(network: Callable[[str], dict[str, Any]]) -> None:
    broken = [f for f in flows(_prod_groups(network)) if f.status != OPEN]
    assert broken == []


def _open(all_flows: list[Flow], source: str, target: str, port: int) -> bool:
    for flow in all_flows:
        if (flow.source, flow.target, flow.proto, flow.status) != (source, target, "tcp", OPEN):
            continue
        low, _, high = flow.ports.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def test_prod_bastion_reaches_every_instance_over_ssh(
    network: Callable[[str], dict[str, Any]],
) -> None:
    all_flows = flows(_prod_groups(network))
    for group in EC2_GROUPS:
        if group != "bastion":
            assert _open(all_flows, "bastion", group, 22), group


@pytest.mark.parametrize(
    ("target", "port"),
    [
        *((group, 9100) for group in EC2_GROUPS),  # node exporter on every instance
        ("nginx", 9113),  # nginx exporter
        ("nginx", 3903),  # mtail on nginx's access log
        ("api", 9127),  # PgBouncer exporter
        ("celery", 9127),
        ("api", 8000),  # the API's /metrics
        ("celery", 5555),  # Flower's /metrics
    ],
)
def test_prod_prometheus_reaches_each_exporter(
    network: Callable[[str], dict[str, Any]], target: str, port: int
) -> None:
    assert _open(flows(_prod_groups(network)), "monitoring", target, port)


def test_prod_flower_is_for_bastion_and_monitoring_only(
    network: Callable[[str], dict[str, Any]],
) -> None:
    groups = {g.name: g for g in _prod_groups(network)}
    sources = {
        rule.peer.label
        for rule in groups["celery"].ingress
        if rule.proto == "all" or (rule.low is not None and rule.low <= 5555 <= (rule.high or 0))
    }
    assert sources == {"bastion", "monitoring"}


def test_markdown_lists_every_rule_and_escapes_cells() -> None:
    matrix = _matrix(
        a={"ingress": [{"from": "b", "ports": 22, "why": "pipes | must | not split cells"}]},
        b={"egress": [{"to": "a", "ports": 22}]},
    )
    page = render(build_matrix(matrix), "markdown", title="T", prefix="x-")
    assert page.startswith("# T\n")
    assert "`x-a`: a" in page
    row = next(line for line in page.splitlines() if line.startswith("| ingress | tcp | 22 |"))
    assert len(re.split(r"(?<!\\)\|", row)) == 8  # 6 cells, pipes escaped
    assert "| egress | | | none | | |" in page  # a has no egress
    assert "## Rules that let nothing through" not in page


def test_dot_declares_every_node_it_uses(network: Callable[[str], dict[str, Any]]) -> None:
    dot = render(_prod_groups(network), "dot", title="prod")
    declared = set(re.findall(r'^  "([^"]+)" \[shape', dot, flags=re.MULTILINE))
    used = re.findall(r'^  "([^"]+)" -> "([^"]+)"', dot, flags=re.MULTILINE)
    assert used and {node for edge in used for node in edge} <= declared
    assert dot.count("{") == dot.count("}")
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=dot, text=True, check=True, capture_output=True)


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="format must be one of markdown, dot"):
        render([], "svg")


def test_bad_subnets_are_rejected(network: Callable[[str], dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="each subnet needs name"):
        render(_prod_groups(network), "markdown", subnets=[{"cidr": "10.0.0.0/24"}])


def test_committed_docs_are_current() -> None:
    """docs/network.md and docs/network.dot are what the renderer makes of today's prod data."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "render-network-docs"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
