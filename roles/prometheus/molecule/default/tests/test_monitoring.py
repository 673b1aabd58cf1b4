"""The monitoring tier works: targets up on both replicas, an alert fires and resolves end to end.

Runs on prometheus-mon1; the other hosts are reached by name on the scenario network.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

import pytest
import testinfra
from ideation_testinfra import assert_running, default_ipv4, http

testinfra_hosts = ["prometheus-mon1"]
MONITORS = ["prometheus-mon1", "prometheus-mon2"]
TARGET = "prometheus-target"
RECORDER = f"http://{TARGET}:9099"


def _get(host, url: str):
    response = http(host, url)
    assert response.status == 200, f"{url}: {response.status} {response.body[:300]}"
    return response.json()


def _query(host, monitor: str, promql: str) -> list[dict]:
    data = _get(host, f"http://{monitor}:9090/api/v1/query?query={quote(promql)}")
    assert data["status"] == "success", data
    return data["data"]["result"]


def _wait(what: str, check, timeout: float = 90, every: float = 2):
    """Poll check() until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")


def _target_host(host):
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE") or host.backend.ansible_inventory
    return testinfra.get_host(f"ansible://{TARGET}", ansible_inventory=inventory)


def _am_alerts(host, monitor: str) -> list[dict]:
    return _get(host, f"http://{monitor}:9093/api/v2/alerts?filter=alertname%3D%22TargetDown%22")


def _notifications(host) -> list[dict]:
    return _get(host, f"{RECORDER}/requests")


def _explain(host, notifications: list[dict]) -> str:
    """What each notification was and what the Alertmanagers logged: for a failed count."""
    lines = []
    for n in notifications:
        if n["path"].startswith("/webhook"):
            body = json.loads(n["body"])
            alerts = [
                (a["status"], a["labels"].get("instance"), a["startsAt"]) for a in body["alerts"]
            ]
            lines.append(f"{n['time']:.1f} webhook from {body['externalURL']}: {alerts}")
        else:
            lines.append(f"{n['time']:.1f} sns {n['form'].get('Subject')}")
    for monitor in MONITORS:
        log = testinfra.get_host(
            f"ansible://{monitor}", ansible_inventory=os.environ.get("MOLECULE_INVENTORY_FILE")
        ).run("journalctl -u prometheus-alertmanager --no-pager -n 40 -o short-unix")
        lines.append(f"--- {monitor}:\n{log.stdout}")
    return "\n".join(lines)


def test_services_run(host):
    for unit in ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter",
                 "prometheus-redis-exporter"):
        assert_running(host, unit)


def test_prometheus_listens_on_the_private_address_and_has_no_lifecycle_api(host):
    address = default_ipv4(host)
    listening = host.socket.get_listening_sockets()
    assert f"tcp://{address}:9090" in listening
    assert not any(s.endswith(":9115") and "127.0.0.1" not in s for s in listening), listening
    quit_ = http(host, f"http://{address}:9090/-/quit", method="POST")
    assert quit_.status == 403, "the lifecycle API must be off"


def test_every_target_is_up_on_both_replicas(host):
    expected = {"node": 3, "prometheus": 2, "alertmanager": 2, "blackbox": 1, "redis": 1}
    for monitor in MONITORS:
        def counts(monitor=monitor):
            results = _query(host, monitor, "up")
            seen = {}
            for r in results:
                if r["value"][1] == "1":
                    seen[r["metric"]["job"]] = seen.get(r["metric"]["job"], 0) + 1
            return seen if all(seen.get(j, 0) >= n for j, n in expected.items()) else None

        seen = _wait(f"all targets up on {monitor}", counts)
        assert seen["node"] == 3


def test_replicas_are_told_apart_by_external_labels(host):
    for monitor in MONITORS:
        config = _get(host, f"http://{monitor}:9090/api/v1/status/config")["data"]["yaml"]
        assert f"replica: {monitor}" in config
        assert "environment: molecule" in config
        assert "retention" not in config  # flags, not config: checked below
    flags = _get(host, "http://prometheus-mon1:9090/api/v1/status/flags")["data"]
    assert flags["storage.tsdb.retention.time"] == "15d"
    assert flags["storage.tsdb.retention.size"] == "45GiB"  # Prometheus reads GB as GiB


def test_targets_carry_role_and_host_labels(host):
    results = _query(host, "prometheus-mon1", f'up{{job="node", host="{TARGET}"}}')
    assert len(results) == 1, results
    assert results[0]["metric"]["role"] == "bastion"


def test_blackbox_probe_and_redis_queue_length_reach_prometheus(host):
    probe = _wait(
        "a successful probe", lambda: _query(host, "prometheus-mon1", "probe_success == 1")
    )
    assert probe[0]["metric"]["instance"] == f"{RECORDER}/health"
    queue = _wait("the Celery queue length",
                  lambda: _query(host, "prometheus-mon1", 'redis_key_size{key="ideation"}'))
    assert queue[0]["value"][1] == "3"


def test_alert_rules_are_loaded(host):
    rules = _get(host, "http://prometheus-mon1:9090/api/v1/rules")["data"]["groups"]
    names = {r["name"] for g in rules for r in g["rules"]}
    assert {"TargetDown", "HighCpuUsage", "HighHttpErrorRate", "CeleryQueueBacklog"} <= names


def test_alertmanagers_form_a_cluster_of_two(host):
    for monitor in MONITORS:
        status = _wait(
            f"a cluster of two seen from {monitor}",
            lambda monitor=monitor: (s := _get(host, f"http://{monitor}:9093/api/v2/status"))
            and s["cluster"]["status"] == "ready" and len(s["cluster"]["peers"]) == 2 and s,
        )
        assert len(status["cluster"]["peers"]) == 2


def test_amtool_is_configured_and_the_configuration_passes(host):
    check = host.run("amtool check-config /etc/prometheus/alertmanager.yml")
    assert check.rc == 0, check.stdout + check.stderr
    assert host.run("amtool cluster show").rc == 0


def test_target_down_fires_reaches_both_channels_and_resolves(host):
    target = _target_host(host)
    before = len(_notifications(host))
    stop = target.run("systemctl stop prometheus-node-exporter")
    assert stop.rc == 0, stop.stderr
    try:
        # Both replicas see the target down, and both Alertmanagers hold the alert, which
        # carries the environment label and not the replica label.
        for monitor in MONITORS:
            alerts = _wait(
                f"TargetDown in the Alertmanager of {monitor}",
                lambda monitor=monitor: [
                    a for a in _am_alerts(host, monitor)
                    if a["labels"].get("host") == TARGET and a["labels"]["job"] == "node"
                ],
            )
            labels = alerts[0]["labels"]
            assert labels["severity"] == "critical"
            assert labels["environment"] == "molecule"
            assert "replica" not in labels

        def firing(channel):
            found = []
            for n in _notifications(host)[before:]:
                if n["path"].rstrip("/") != f"/{channel}" or "TargetDown" not in n["body"]:
                    continue
                if channel == "webhook" and json.loads(n["body"])["status"] == "firing":
                    found.append(n)
                if channel == "sns" and n["form"].get("Subject", "").startswith("[FIRING"):
                    found.append(n)
            return found

        hooks = _wait("the webhook notification", lambda: firing("webhook"))
        payload = json.loads(hooks[0]["body"])
        assert payload["status"] == "firing"
        assert payload["commonLabels"]["alertname"] == "TargetDown"
        sns = _wait("the SNS Publish call", lambda: firing("sns"))
        form = sns[0]["form"]
        assert form["Action"] == "Publish"
        assert form["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:ideation-molecule-alerts"
        assert sns[0]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIA")
        # Both replicas' copies are one alert: every notification names it once. (How many
        # notifications arrive is not asserted: Alertmanager's cluster delivers at least once,
        # and with 2 s group intervals, shorter than its 15 s peer wait, duplicates happen.)
        time.sleep(10)
        for hook in firing("webhook"):
            alerts = json.loads(hook["body"])["alerts"]
            assert len(alerts) == 1, _explain(host, firing("webhook"))
            assert "replica" not in alerts[0]["labels"]
    finally:
        start = target.run("systemctl start prometheus-node-exporter")
        assert start.rc == 0, start.stderr

    def resolved():
        return [
            n for n in _notifications(host)[before:]
            if n["path"] == "/webhook" and json.loads(n["body"])["status"] == "resolved"
        ]

    _wait("the resolved notification", resolved)
    for monitor in MONITORS:
        _wait(
            f"TargetDown gone from the Alertmanager of {monitor}",
            lambda monitor=monitor: not [
                a for a in _am_alerts(host, monitor) if a["labels"].get("host") == TARGET
            ],
        )


def test_a_rejected_configuration_left_prometheus_as_it_was(host):
    """After the side-effect step's broken inputs: nothing of them is live."""
    assert not host.file("/etc/prometheus/rules/broken.rules.yml").exists
    config = _get(host, "http://prometheus-mon1:9090/api/v1/status/config")["data"]["yaml"]
    assert "scrape_interval: 2s" in config
    rules = _get(host, "http://prometheus-mon1:9090/api/v1/rules")["data"]["groups"]
    assert "broken" not in {g["name"] for g in rules}
    metrics = http(host, "http://prometheus-mon1:9090/metrics").body
    assert "prometheus_config_last_reload_successful 1" in metrics


def _metric_data(form: dict) -> list[dict]:
    """The MetricData of a PutMetricData call (query protocol) as dicts, dimensions as one dict."""
    data = []
    while f"MetricData.member.{len(data) + 1}.MetricName" in form:
        prefix = f"MetricData.member.{len(data) + 1}."
        dimensions, number = {}, 1
        while f"{prefix}Dimensions.member.{number}.Name" in form:
            name = form[f"{prefix}Dimensions.member.{number}.Name"]
            dimensions[name] = form[f"{prefix}Dimensions.member.{number}.Value"]
            number += 1
        data.append({"name": form[prefix + "MetricName"], "value": float(form[prefix + "Value"]),
                     "unit": form[prefix + "Unit"], "dimensions": dimensions})
    return data


def test_queue_depth_and_memory_reach_cloudwatch_and_no_error_rate_is_made_up(host):
    """The publisher's PutMetricData calls (the recorder stands in for CloudWatch): the Celery
    queue's length (3 on the target's Redis) in the platform's namespace with the environment as
    dimension, and the memory used per role under its auto-scaling group's name, signed with the
    configured key; the error rate, which has no sample here (no nginx), is not published at
    all. The side effect's rejected query is not live."""
    queue_key = ("CeleryQueueDepth", (("Environment", "molecule"),))
    memory_keys = [("MemoryUsedPercent", (("AutoScalingGroupName", f"ideation-{role}"),))
                   for role in ("bastion", "monitoring")]

    def published():
        return [n for n in _notifications(host) if n["path"].startswith("/cloudwatch")]

    def complete():
        """The latest call with every expected datum: an earlier test stopped the target's node
        exporter, and a call made before Prometheus scraped it again lacks its memory."""
        for call in reversed(published()):
            data = {(d["name"], tuple(d["dimensions"].items())): d
                    for d in _metric_data(call["form"])}
            if all(key in data for key in [queue_key, *memory_keys]):
                return call, data
        return None

    call, data = _wait("a PutMetricData call with the queue depth and both roles' memory",
                       complete)
    form = call["form"]
    assert form["Action"] == "PutMetricData", form
    assert form["Namespace"] == "Ideation", form
    assert (data[queue_key]["value"], data[queue_key]["unit"]) == (3, "Count")
    for key in memory_keys:
        assert data[key]["unit"] == "Percent" and 0 < data[key]["value"] < 100, data[key]
    assert {name for name, _ in data} == {"CeleryQueueDepth", "MemoryUsedPercent"}, data
    calls = published()
    assert call["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIA")
    assert not [c for c in calls if "HttpErrorRatePercent" in c["body"]]
    config = host.file("/etc/prometheus/cloudwatch-publisher.json").content_string
    assert "BrokenMetric" not in config and "CeleryQueueDepth" in config
    key_file = host.file("/etc/prometheus/cloudwatch-publisher.env")
    assert (key_file.user, key_file.mode) == ("root", 0o600)
    assert host.service("prometheus-cloudwatch-publisher.timer").is_enabled
    result = host.run("systemctl show -p Result --value prometheus-cloudwatch-publisher.service")
    assert result.stdout.strip() == "success", result.stdout


def test_a_rejected_alertmanager_configuration_left_it_as_it_was(host):
    """After the side-effect step's broken route: the live file and Alertmanager's loaded
    configuration are the converged ones."""
    assert "whenever" not in host.file("/etc/prometheus/alertmanager.yml").content_string
    loaded = _get(host, "http://prometheus-mon1:9093/api/v2/status")["config"]["original"]
    assert "whenever" not in loaded and "group_wait: 1s" in loaded
    metrics = http(host, "http://prometheus-mon1:9093/metrics").body
    assert "alertmanager_config_last_reload_successful 1" in metrics


def test_grafana_configuration_is_rendered_safely(host):
    ini = host.file("/etc/grafana/grafana.ini")
    assert ini.user == "root" and ini.group == "grafana" and ini.mode == 0o640
    text = ini.content_string
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = {}
        elif "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            sections[current][key.strip()] = value.strip()
    assert sections["auth.anonymous"]["enabled"] == "false"
    assert sections["security"]["cookie_secure"] == "true"
    assert sections["security"]["cookie_samesite"] == "strict"
    assert sections["security"]["admin_password"] == '"""molecule-admin-password"""'
    assert sections["users"]["allow_sign_up"] == "false"
    assert sections["server"]["http_addr"] == default_ipv4(host)


def test_grafana_datasources_point_at_each_prometheus(host):
    import yaml

    datasources = yaml.safe_load(
        host.file("/etc/grafana/provisioning/datasources/ideation.yaml").content_string
    )["datasources"]
    # CloudWatch's (the instance role, no keys) follows: tests/monitoring/test_dashboards.py.
    assert [d["type"] for d in datasources] == ["prometheus", "prometheus", "cloudwatch"]
    datasources = datasources[:2]
    assert [d["name"] for d in datasources] == [f"Prometheus {m}" for m in MONITORS]
    assert [d["isDefault"] for d in datasources] == [True, False]
    for source in datasources:
        # The URL is where that Prometheus really answers.
        assert _get(host, f"{source['url']}/api/v1/status/buildinfo")["status"] == "success"


def test_grafana_dashboards_are_provisioned(host):
    import yaml

    provider = yaml.safe_load(
        host.file("/etc/grafana/provisioning/dashboards/ideation.yaml").content_string
    )["providers"][0]
    directory = provider["options"]["path"]
    titles = set()
    for name in ("system-health", "api-performance", "database-performance", "business-metrics"):
        titles.add(json.loads(host.file(f"{directory}/{name}.json").content_string)["title"])
    assert titles == {"System Health", "API Performance", "Database Performance",
                      "Business Metrics"}
