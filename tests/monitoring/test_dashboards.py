"""The Grafana dashboards are well-formed and every PromQL expression in them parses.

Grafana cannot run on this project's machines, so these checks stand in for loading the
dashboards: the JSON basics Grafana needs (uid, title, panels with a datasource and targets),
and each target's expression checked by `promtool check rules` in a throwaway rule file, with
Grafana's variables replaced by values of the right kind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "roles" / "grafana" / "files" / "dashboards"
REQUIRED_TITLES = {"System Health", "API Performance", "Database Performance", "Business Metrics"}
# Grafana's built-in interval variables, then dashboard variables (used in label matchers).
INTERVALS = re.compile(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}")
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
FILES = sorted(DASHBOARDS.glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _promql(expr: str) -> str:
    """A dashboard expression as promtool can parse it: variables become concrete values."""
    return VARIABLE.sub(".*", INTERVALS.sub("5m", expr))


def test_the_four_dashboards_of_the_design_exist():
    assert {_load(path)["title"] for path in FILES} == REQUIRED_TITLES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dashboard_has_the_basics_grafana_needs(path):
    dashboard = _load(path)
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"]), "uid: at most 40 of [a-z0-9-]"
    assert dashboard["title"]
    assert "id" not in dashboard or dashboard["id"] is None, "provisioned dashboards carry no id"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    graphs = [panel for panel in _panels(dashboard) if panel["type"] != "row"]
    assert len(graphs) >= 4
    for panel in graphs:
        assert panel["title"], panel["id"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no targets"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_dashboard_variable_used_is_defined(path):
    dashboard = _load(path)
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            used = set(VARIABLE.findall(INTERVALS.sub("", target["expr"])))
            assert used <= defined, f"{panel['title']}: undefined {used - defined}"


def test_every_promql_expression_parses(promtool, tmp_path):
    rules = []
    for path in FILES:
        for panel in _panels(_load(path)):
            for target in panel.get("targets", []):
                rules.append({
                    "record": f"dashboard:check:{len(rules)}",
                    "expr": _promql(target["expr"]),
                })  # fmt: skip
    assert len(rules) >= 40
    rule_file = tmp_path / "dashboards.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_expression_check_catches_a_broken_expression(promtool, tmp_path):
    """The parse check above can fail: an unbalanced expression is refused."""
    rule_file = tmp_path / "broken.rules.yml"
    expr = _promql('sum(rate(http_requests_total{job="api"}[$__rate_interval])')
    rule_file.write_text(yaml.safe_dump(
        {"groups": [{"name": "d", "rules": [{"record": "dashboard:check:0", "expr": expr}]}]}
    ))  # fmt: skip
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode != 0
