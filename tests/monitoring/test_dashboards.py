"""The Grafana dashboards are well-formed, every PromQL expression in them parses, and every
CloudWatch query names a metric and dimension the AWS service publishes.

Grafana cannot run on this project's machines, so these checks stand in for loading the
dashboards: the JSON basics Grafana needs (uid, title, panels with a datasource and targets),
each Prometheus target's expression checked by `promtool check rules` in a throwaway rule file,
with Grafana's variables replaced by values of the right kind, and each CloudWatch target
checked against the metrics AWS documents for RDS and ElastiCache and against the CloudWatch
data source the role provisions.
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
GRAFANA_VARS = yaml.safe_load((ROOT / "roles/grafana/vars/main.yml").read_text())
CLOUDWATCH = {"type": "cloudwatch", "uid": GRAFANA_VARS["_grafana_cloudwatch_uid"]}
# What AWS publishes, per namespace: the dimension a panel filters by, and the metrics
# (AWS's RDS and ElastiCache CloudWatch metric lists) the dashboards may query.
CLOUDWATCH_METRICS = {
    "AWS/RDS": ("DBInstanceIdentifier", {
        "CPUUtilization", "FreeStorageSpace", "DatabaseConnections", "ReplicaLag",
        "FreeableMemory", "ReadIOPS", "WriteIOPS", "ReadLatency", "WriteLatency",
    }),
    "AWS/ElastiCache": ("CacheClusterId", {
        "CPUUtilization", "EngineCPUUtilization", "DatabaseMemoryUsagePercentage",
        "CurrConnections", "ReplicationLag", "Evictions", "FreeableMemory",
    }),
}  # fmt: skip
STATISTICS = {"Average", "Minimum", "Maximum", "Sum", "SampleCount"}
# The panels: RDS CPU, free storage, connections, replica lag; ElastiCache CPU, memory,
# connections.
REQUIRED_CLOUDWATCH = {
    ("AWS/RDS", "CPUUtilization"), ("AWS/RDS", "FreeStorageSpace"),
    ("AWS/RDS", "DatabaseConnections"), ("AWS/RDS", "ReplicaLag"),
    ("AWS/ElastiCache", "EngineCPUUtilization"),
    ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"), ("AWS/ElastiCache", "CurrConnections"),
}  # fmt: skip


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _is_cloudwatch(panel: dict) -> bool:
    return panel.get("datasource", {}).get("type") == "cloudwatch"


def _cloudwatch_targets(dashboard: dict) -> list[tuple[dict, dict]]:
    return [
        (panel, target)
        for panel in _panels(dashboard)
        if _is_cloudwatch(panel)
        for target in panel["targets"]
    ]


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
        assert panel["targets"], f"{panel['title']}: no targets"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']}: refId twice"
        if _is_cloudwatch(panel):  # checked below, query by query
            assert panel["datasource"] == CLOUDWATCH, panel["title"]
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
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
            text = target.get("expr", "") + " ".join(target.get("dimensions", {}).values())
            used = set(VARIABLE.findall(INTERVALS.sub("", text)))
            assert used <= defined, f"{panel['title']}: undefined {used - defined}"


def test_every_promql_expression_parses(promtool, tmp_path):
    rules = []
    for path in FILES:
        for panel in _panels(_load(path)):
            if _is_cloudwatch(panel):
                continue
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


def test_the_database_dashboard_shows_rds_and_elasticache_from_cloudwatch():
    dashboard = _load(DASHBOARDS / "database-performance.json")
    queried = {(t["namespace"], t["metricName"]) for _p, t in _cloudwatch_targets(dashboard)}
    assert queried >= REQUIRED_CLOUDWATCH, REQUIRED_CLOUDWATCH - queried


def _cloudwatch_problems(dashboard: dict) -> list[str]:
    """What is wrong with the dashboard's CloudWatch queries, one line each."""
    problems = []
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for panel, target in _cloudwatch_targets(dashboard):
        where = f"{panel['title']} {target['refId']}"
        if target["datasource"] != CLOUDWATCH:
            problems.append(f"{where}: data source {target['datasource']}")
        # A metric search built from the fields below, in the data source's (platform's) region.
        mode = (target["queryMode"], target["metricQueryType"], target["metricEditorMode"])
        if mode != ("Metrics", 0, 0) or target["region"] != "default":
            problems.append(f"{where}: not a metric search in the default region")
        if target["namespace"] not in CLOUDWATCH_METRICS:
            problems.append(f"{where}: namespace {target['namespace']}")
            continue
        dimension, metrics = CLOUDWATCH_METRICS[target["namespace"]]
        if target["metricName"] not in metrics:
            problems.append(f"{where}: {target['namespace']} has no {target['metricName']}")
        if target["statistic"] not in STATISTICS:
            problems.append(f"{where}: statistic {target['statistic']}")
        if list(target["dimensions"]) != [dimension]:
            problems.append(f"{where}: dimensions {list(target['dimensions'])}, not {dimension}")
            continue
        names = VARIABLE.findall(target["dimensions"][dimension])
        variable = variables.get(names[0]) if len(names) == 1 else None
        if variable is None or variable.get("datasource") != CLOUDWATCH:
            problems.append(f"{where}: {dimension} is not filled from a CloudWatch variable")
            continue
        query = variable["query"]
        if (query["queryType"], query["namespace"], query["dimensionKey"]) != (
            "dimensionValues", target["namespace"], dimension
        ) or query["metricName"] not in metrics:
            problems.append(f"{where}: ${names[0]} lists other values than {dimension}")
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_cloudwatch_query_names_a_published_metric_of_its_own_resources(path):
    """A metric or dimension AWS does not publish, a statistic CloudWatch does not know, or a
    dimension filled from another service's variable shows an empty panel, silently."""
    assert _cloudwatch_problems(_load(path)) == []


def test_the_cloudwatch_check_catches_wrong_dimensions_metrics_and_variables():
    """The check above can fail."""
    def broken(change) -> list[str]:
        dashboard = _load(DASHBOARDS / "database-performance.json")
        _panel, target = next(
            (p, t) for p, t in _cloudwatch_targets(dashboard)
            if t["namespace"] == "AWS/ElastiCache")  # fmt: skip
        change(target)
        return _cloudwatch_problems(dashboard)

    assert broken(lambda t: t.update(dimensions={"DBInstanceIdentifier": "$rds_instance"}))
    assert broken(lambda t: t.update(dimensions={"CacheClusterId": "$rds_instance"}))
    assert broken(lambda t: t.update(metricName="ReplicaLag"))
    assert broken(lambda t: t.update(statistic="p99.9"))
    assert broken(lambda t: t.update(datasource={"type": "cloudwatch", "uid": "other"}))


def test_the_role_provisions_the_cloudwatch_data_source_on_the_instance_role(
    render_role_template,
):
    """The uid the dashboards name, the instance role (authType default: no keys in Grafana),
    the platform's region; a test's endpoint when given; none when turned off."""
    prometheus = [{"name": "Prometheus a", "uid": "prometheus-a", "url": "http://10.0.10.5:9090"}]
    template = "etc/grafana/provisioning/datasources/ideation.yaml.j2"
    text = render_role_template(
        "grafana", template, grafana_prometheus_datasources=prometheus, aws_region="eu-west-1")
    sources = {d["type"]: d for d in yaml.safe_load(text)["datasources"]}
    cloudwatch = sources["cloudwatch"]
    assert cloudwatch["uid"] == CLOUDWATCH["uid"]
    assert cloudwatch["jsonData"] == {"authType": "default", "defaultRegion": "eu-west-1"}
    assert "secureJsonData" not in cloudwatch and cloudwatch["isDefault"] is False
    assert sources["prometheus"]["isDefault"] is True
    moto = render_role_template(
        "grafana", template, grafana_prometheus_datasources=prometheus,
        grafana_cloudwatch_endpoint="http://127.0.0.1:5000")
    (cloudwatch,) = [d for d in yaml.safe_load(moto)["datasources"] if d["type"] == "cloudwatch"]
    assert cloudwatch["jsonData"]["endpoint"] == "http://127.0.0.1:5000"
    assert cloudwatch["jsonData"]["defaultRegion"] == "us-east-1"
    off = render_role_template(
        "grafana", template, grafana_prometheus_datasources=prometheus,
        grafana_cloudwatch_enabled=False)
    assert [d["type"] for d in yaml.safe_load(off)["datasources"]] == ["prometheus"]
