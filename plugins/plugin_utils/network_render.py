"""Draw a security-group matrix for people: a Markdown page and a Graphviz diagram.

Both come from ``sg_matrix.build_matrix``, so the docs show exactly the rules AWS gets. Besides
the per-group tables, ``flows`` pairs each group-to-group rule with the other end: security
groups are stateful, but with restricted egress a connection needs egress at the source *and*
ingress at the destination, so a rule with no partner is flagged - it lets nothing through.
No Ansible import: the filter wrapper turns ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.ideation.platform.plugins.plugin_utils.echo import echo
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import (
    Group,
    Rule,
    rule_description,
)

FORMATS = ("markdown", "dot")
OPEN = "open"
INGRESS_ONLY = "ingress only"  # the destination accepts, the source may not send
EGRESS_ONLY = "egress only"  # the source may send, the destination drops it


@dataclass(frozen=True)
class Flow:
    """Traffic between two groups on one protocol and port range, and whether it can pass."""

    source: str
    target: str
    proto: str
    ports: str
    status: str


def _covers(rule: Rule, proto: str, low: int | None, high: int | None) -> bool:
    """Does ``rule`` let through all of ``proto`` ``low..high``?"""
    if rule.proto == "all":
        return True
    if rule.proto != proto:
        return False
    if rule.low is None or low is None or high is None or rule.high is None:
        return rule.low is None and low is None
    return rule.low <= low and high <= rule.high


def _sends(group: Group, target: str, proto: str, low: int | None, high: int | None) -> bool:
    """May ``group`` send this traffic to ``target`` (by group reference or to the world)?"""
    return any(
        (rule.peer.kind == "group" and rule.peer.value == target) or rule.peer.is_world
        for rule in group.egress
        if _covers(rule, proto, low, high)
    )


def _accepts(group: Group, source: str, proto: str, low: int | None, high: int | None) -> bool:
    return any(
        rule.peer.kind == "group" and rule.peer.value == source
        for rule in group.ingress
        if _covers(rule, proto, low, high)
    )


def flows(groups: Sequence[Group]) -> list[Flow]:
    """Every group-to-group rule, with its status; ``all`` egress needs no partner."""
    by_name = {group.name: group for group in groups}
    result: set[Flow] = set()
    for target in groups:
        for rule in target.ingress:
            if rule.peer.kind != "group":
                continue
            source = by_name[rule.peer.value]
            ok = _sends(source, target.name, rule.proto, rule.low, rule.high)
            status = OPEN if ok else INGRESS_ONLY
            result.add(Flow(source.name, target.name, rule.proto, rule.ports, status))
    for source in groups:
        for rule in source.egress:
            if rule.peer.kind != "group" or rule.proto == "all":
                continue
            if not _accepts(by_name[rule.peer.value], source.name, rule.proto, rule.low, rule.high):
                result.add(Flow(source.name, rule.peer.value, rule.proto, rule.ports, EGRESS_ONLY))
    order = {group.name: index for index, group in enumerate(groups)}
    return sorted(result, key=lambda f: (order[f.source], order[f.target], f.proto, f.ports))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _peer(rule: Rule, group: Group) -> str:
    peer = rule.peer
    if peer.kind == "group":
        return f"self ({group.name})" if peer.value == group.name else peer.value
    return peer.value if peer.label == peer.value else f"{peer.label} ({peer.value})"


def _why(rule: Rule) -> str:
    parts = (["design"] if rule.from_design else []) + list(rule.whys)
    return "; ".join(parts)


def _group_table(group: Group, prefix: str) -> list[str]:
    lines = [
        f"### {group.name}",
        "",
        f"`{prefix}{group.name}`: {group.description}",
        "",
        "| Direction | Protocol | Ports | Peer | AWS description | Why |",
        "|---|---|---|---|---|---|",
    ]
    for direction in ("ingress", "egress"):
        rules = group.rules(direction)
        if not rules:
            lines.append(f"| {direction} | | | none | | |")
        for rule in rules:
            cells = (
                direction,
                rule.proto,
                rule.ports,
                _peer(rule, group),
                rule_description(rule, direction),
                _why(rule),
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return [*lines, ""]


def _ports_by_proto(items: Iterable[tuple[str, str]]) -> str:
    """``[(tcp, 22), (tcp, 9100), (all, all)]`` to ``all; tcp 22, 9100``."""
    grouped: dict[str, list[str]] = {}
    for proto, ports in items:
        grouped.setdefault(proto, []).append(ports)
    return "; ".join(
        proto if ports == ["all"] else f"{proto} {', '.join(ports)}"
        for proto, ports in sorted(grouped.items())
    )


def _external_edges(groups: Sequence[Group]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(source, target) -> [(proto, ports)] for rules whose peer is a CIDR."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for group in groups:
        for rule in group.ingress:
            if rule.peer.kind == "cidr":
                edges.setdefault((rule.peer.label, group.name), []).append((rule.proto, rule.ports))
        for rule in group.egress:
            if rule.peer.kind == "cidr":
                edges.setdefault((group.name, rule.peer.label), []).append((rule.proto, rule.ports))
    return edges


def _flow_matrix(groups: Sequence[Group], all_flows: Sequence[Flow]) -> list[str]:
    """Rows: where traffic starts; columns: where it goes; cells: what passes."""
    names = [group.name for group in groups]
    externals = _external_edges(groups)
    outside = sorted({s for s, _target in externals if s not in names})
    targets = names + sorted({t for _source, t in externals if t not in names})
    cells: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for flow in all_flows:
        if flow.status == OPEN:
            cells.setdefault((flow.source, flow.target), []).append((flow.proto, flow.ports))
    for key, items in externals.items():
        cells.setdefault(key, []).extend(items)
    lines = [
        "| from \\ to | " + " | ".join(targets) + " |",
        "|---" * (len(targets) + 1) + "|",
    ]
    for source in names + outside:
        row = [_ports_by_proto(cells.get((source, target), [])) for target in targets]
        lines.append(f"| **{source}** | " + " | ".join(_cell(cell) for cell in row) + " |")
    return lines


def _subnet_table(subnets: Any) -> list[str]:
    """The subnet_plan output as a table; anything else is refused."""
    keys = ("name", "tier", "zone", "cidr", "usable_hosts")
    if isinstance(subnets, (str, Mapping)) or not isinstance(subnets, Sequence):
        raise ValueError(f"subnets must be the list subnet_plan returns, got {echo(subnets)}")
    lines = ["## Subnets", "", "| Name | Tier | Zone | CIDR | Usable hosts |"]
    lines.append("|---|---|---|---|---|")
    for subnet in subnets:
        if not isinstance(subnet, Mapping) or any(key not in subnet for key in keys):
            raise ValueError(f"each subnet needs {', '.join(keys)}, got {echo(subnet)}")
        lines.append("| " + " | ".join(_cell(str(subnet[key])) for key in keys) + " |")
    return [*lines, ""]


def render_markdown(
    groups: Sequence[Group],
    *,
    title: str = "Network",
    prefix: str = "",
    subnets: Sequence[Mapping[str, Any]] | None = None,
    preamble: str = "",
) -> str:
    """The whole page: subnets, the flow matrix, half-open rules, one table per group."""
    all_flows = flows(groups)
    lines = [f"# {title}", ""]
    if preamble:
        lines += [preamble.strip(), ""]
    if subnets is not None:
        lines += _subnet_table(subnets)
    lines += [
        "## Who may talk to whom",
        "",
        "Each cell lists what can pass from the row to the column: group-to-group traffic only",
        "where the source's egress and the destination's ingress both allow it.",
        "",
        *_flow_matrix(groups, all_flows),
        "",
    ]
    broken = [flow for flow in all_flows if flow.status != OPEN]
    if broken:
        lines += [
            "## Rules that let nothing through",
            "",
            "| From | To | Protocol | Ports | Status |",
        ]
        lines += ["|---|---|---|---|---|"]
        for flow in broken:
            lines.append(
                f"| {flow.source} | {flow.target} | {flow.proto} | {flow.ports} | {flow.status} |"
            )
        lines.append("")
    lines += ["## Security groups", ""]
    for group in groups:
        lines += _group_table(group, prefix)
    return "\n".join(lines).rstrip() + "\n"


def _quote(*lines: str) -> str:
    """A DOT string literal; several lines are joined with DOT's line break."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def render_dot(groups: Sequence[Group], *, title: str = "Network", prefix: str = "") -> str:
    """A Graphviz digraph: groups as boxes, CIDR peers as ellipses, edges labelled by port."""
    names = [group.name for group in groups]
    all_flows = flows(groups)
    externals = _external_edges(groups)
    lines = [
        f"digraph {_quote(title)} {{",
        "  rankdir=LR;",
        f"  label={_quote(title)};",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for group in groups:
        label = _quote(group.name, prefix + group.name)
        lines.append(f"  {_quote(group.name)} [shape=box, style=rounded, label={label}];")
    cidrs = {r.peer.label: r.peer.value for g in groups for r in (*g.ingress, *g.egress)}
    for label in sorted({node for edge in externals for node in edge if node not in names}):
        text = _quote(label) if label == cidrs[label] else _quote(label, cidrs[label])
        lines.append(f"  {_quote(label)} [shape=ellipse, label={text}];")
    edges: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for flow in all_flows:
        edges.setdefault((flow.source, flow.target, flow.status), []).append(
            (flow.proto, flow.ports)
        )
    for (source, target), items in externals.items():
        edges.setdefault((source, target, OPEN), []).extend(items)
    for (source, target, status), items in sorted(edges.items()):
        style = "" if status == OPEN else ", style=dashed, color=red, fontcolor=red"
        label = _ports_by_proto(items) + ("" if status == OPEN else f" ({status})")
        lines.append(f"  {_quote(source)} -> {_quote(target)} [label={_quote(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(
    groups: Sequence[Group],
    output: str,
    *,
    title: str = "Network",
    prefix: str = "",
    subnets: Sequence[Mapping[str, Any]] | None = None,
    preamble: str = "",
) -> str:
    """Dispatch on ``output``: ``markdown`` or ``dot``."""
    if output == "markdown":
        return render_markdown(
            groups, title=title, prefix=prefix, subnets=subnets, preamble=preamble
        )
    if output == "dot":
        return render_dot(groups, title=title, prefix=prefix)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {echo(output)}")
