"""Checks of Grafana dashboards against the data sources provisioned beside them.

Grafana cannot run on this project's machines (ENVIRONMENT.md), so these checks stand in for
loading the dashboards. They are generic: every panel and every query variable of every
dashboard, whatever its data source type; a type they do not know is reported, not skipped.

- each panel's and variable's data source resolves to a provisioned one (a `${variable}` of
  type datasource whose plugin type has a provisioned data source, or a provisioned uid);
- each query names metrics of a catalogue of metrics that exist (`problems`), and each PromQL
  expression parses (`promql_rule_file`, for `promtool check rules`).

PromQL metric names are read as the dev twin's test reads them (tests/integration/
test_dev_twin.py, `metric_names`: it checks the same names against a live Prometheus).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# PromQL words that are not metric names, and the label lists that follow some of them.
PROMQL_WORDS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
PROMQL_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "group_left",
    "group_right",
}
# Grafana's built-in interval variables, then any dashboard variable.
INTERVALS = re.compile(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}")
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# Grafana's Prometheus variable queries: label_values(expr, label), query_result(expr).
VARIABLE_QUERY = re.compile(r"^\s*(label_values|query_result)\((.*)\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (selectors, not functions, labels, keywords)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)  # label matchers, ranges
    bare = re.sub(r"\$\{?\w+\}?", "1", bare)  # dashboard variables
    bare = PROMQL_WORDS.sub(" ", bare)
    return {n for n in PROMQL_NAME.findall(bare) if n.lower() not in PROMQL_KEYWORDS}


def promql(expr: str) -> str:
    """A dashboard expression as promtool parses it: variables become concrete values."""
    return VARIABLE.sub(".*", INTERVALS.sub("5m", expr))


def variable_expression(query: str) -> str | None:
    """The PromQL inside a Prometheus variable query, or None when it reads no metric
    (`label_values(job)` lists a label's values over all series)."""
    match = VARIABLE_QUERY.match(query)
    if not match:
        return query.strip() or None
    function, inner = match.groups()
    if function == "query_result":
        return inner
    depth = 0
    for index, char in enumerate(inner):
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        elif char == "," and depth == 0:
            return inner[:index]
    return None


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside (collapsed) rows included."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _ref(value: Any) -> tuple[str | None, str | None]:
    """(type, uid) of a data source reference (an object, or a legacy name or variable)."""
    if isinstance(value, dict):
        return value.get("type"), value.get("uid")
    if isinstance(value, str):
        return None, value
    return None, None


def resolve(
    value: Any, dashboard: dict[str, Any], provisioned: list[dict[str, Any]]
) -> tuple[str | None, str | None]:
    """(data source type, None) for a reference to a provisioned data source, or
    (None, why not) for one that resolves to none."""
    kind, uid = _ref(value)
    if uid is None:
        return None, "no data source"
    variable = re.fullmatch(r"\$\{?(\w+)\}?", uid)
    if variable:
        variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
        chosen = variables.get(variable.group(1))
        if not chosen or chosen.get("type") != "datasource":
            return None, f"{uid} is no data source variable of the dashboard"
        plugin = chosen.get("query")
        if kind and kind != plugin:
            return None, f"{uid} lists {plugin} data sources, the reference says {kind}"
        if not any(source["type"] == plugin for source in provisioned):
            return None, f"{uid} lists {plugin} data sources, and none is provisioned"
        return plugin, None
    matches = [s for s in provisioned if uid in (s.get("uid"), s.get("name"))]
    if not matches:
        return None, f"data source {uid!r} is not provisioned"
    if kind and kind != matches[0]["type"]:
        return None, f"data source {uid!r} is a {matches[0]['type']}, the reference says {kind}"
    return matches[0]["type"], None


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, data source reference, query) for each panel target and each query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            where = f"panel {panel.get('title')!r} target {target.get('refId')}"
            yield where, target.get("datasource", panel.get("datasource")), target
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            yield (
                f"variable {variable.get('name')!r}",
                variable.get("datasource"),
                query if isinstance(query, dict) else {"query": query},
            )


def _cloudwatch_problems(query: dict[str, Any], known: dict[str, list[str]]) -> list[str]:
    if query.get("queryMode") == "Logs" or query.get("metricQueryType") == 1:
        text = query.get("expression") or query.get("sqlExpression") or ""
        return [] if text.strip() else ["an empty CloudWatch Logs or SQL query"]
    namespace, metric = query.get("namespace"), query.get("metricName")
    if not metric:
        # A math expression over the panel's other queries, or a variable's other lookups.
        if query.get("expression") or query.get("queryType") in ("regions", "namespaces"):
            return []
        if query.get("queryType") and namespace and namespace in known:
            return []
        return [f"a CloudWatch query with no metric: {query}"]
    if VARIABLE.fullmatch(metric) or VARIABLE.fullmatch(namespace or ""):
        return []
    if namespace not in known:
        return [f"CloudWatch namespace {namespace!r} is not in the catalogue"]
    if metric not in known[namespace]:
        return [f"CloudWatch metric {namespace} {metric!r} is not in the catalogue"]
    return []


def problems(
    dashboard: dict[str, Any], provisioned: list[dict[str, Any]], catalogue: dict[str, Any]
) -> list[str]:
    """What is wrong with a dashboard: unresolved data sources, metrics outside the catalogue
    (`prometheus`: names; `cloudwatch`: namespace to names), queries of unknown kinds."""
    found = []
    known_promql = set(catalogue.get("prometheus", []))
    for where, reference, query in queries(dashboard):
        kind, why = resolve(reference, dashboard, provisioned)
        if why:
            found.append(f"{where}: {why}")
            continue
        if kind == "prometheus":
            expr = (
                query.get("expr")
                if "expr" in query
                else variable_expression(query.get("query") or "")
            )
            if "expr" in query and not (expr or "").strip():
                found.append(f"{where}: an empty expression")
            for name in sorted(metric_names(expr or "") - known_promql):
                found.append(f"{where}: metric {name!r} is not in the catalogue")
        elif kind == "cloudwatch":
            found.extend(
                f"{where}: {p}"
                for p in _cloudwatch_problems(query, catalogue.get("cloudwatch", {}))
            )
        else:
            found.append(f"{where}: no check for {kind} queries here; add one")
    return found


def promql_rule_file(
    dashboards: list[dict[str, Any]], provisioned: list[dict[str, Any]]
) -> dict[str, Any]:
    """A rule file with one recording rule per PromQL expression of the dashboards (panel
    targets and variable queries), for `promtool check rules`."""
    rules = []
    for dashboard in dashboards:
        for _where, reference, query in queries(dashboard):
            if resolve(reference, dashboard, provisioned)[0] != "prometheus":
                continue
            expr = (
                query.get("expr")
                if "expr" in query
                else variable_expression(query.get("query") or "")
            )
            if expr and expr.strip():
                rules.append({"record": f"dashboard:check:{len(rules)}", "expr": promql(expr)})
    return {"groups": [{"name": "dashboards", "rules": rules}]}
