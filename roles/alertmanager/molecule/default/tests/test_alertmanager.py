"""Alertmanager alone: it answers on its port, its configuration passes amtool, bad routes and
receivers are refused before it sees them, and alerts reach the receiver of their severity.

The recorder on the host's loopback (port 9099, from side_effect.yml) stands in for Amazon SNS and
a webhook receiver; the routes are in molecule.yml.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from ideation_testinfra import assert_running, default_ipv4, http, metric_value

testinfra_hosts = ["alertmanager-solo"]
CONFIG = "/etc/prometheus/alertmanager.yml"
RECORDER = "http://127.0.0.1:9099"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ideation-molecule-alerts"


@pytest.fixture(scope="module")
def api(host) -> str:
    return f"http://{default_ipv4(host)}:9093"


@pytest.fixture(scope="module")
def evidence(host) -> dict:
    return json.loads(host.file("/var/tmp/alertmanager-molecule.json").content_string)


def _get(host, url: str):
    response = http(host, url)
    assert response.status == 200, f"{url}: {response.status} {response.body[:300]}"
    return response.json()


def _wait(what: str, check, timeout: float = 30, every: float = 1):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")


def _post_alerts(host, api: str, *labels: dict[str, str]) -> None:
    body = json.dumps(
        [{"labels": label_set, "annotations": {"summary": "molecule"}} for label_set in labels]
    )
    response = http(host, f"{api}/api/v2/alerts", method="POST", data=body)
    assert response.status == 200, f"{response.status} {response.body}"


def _webhooks(host, alertname: str) -> list[dict]:
    """The webhook payloads that carry the alert of that name."""
    return [
        json.loads(n["body"])
        for n in _get(host, f"{RECORDER}/requests")
        if n["path"] == "/webhook" and f'"alertname":"{alertname}"' in n["body"]
    ]


def _sns(host, alertname: str) -> list[dict]:
    return [
        n
        for n in _get(host, f"{RECORDER}/requests")
        if n["path"].rstrip("/") == "/sns" and alertname in n["body"]
    ]


def test_alertmanager_runs_and_answers_on_its_port(host, api):
    assert_running(host, "prometheus-alertmanager")
    listening = host.socket.get_listening_sockets()
    assert f"tcp://{default_ipv4(host)}:9093" in listening, listening
    # A single Alertmanager: no gossip port.
    assert not [s for s in listening if s.endswith(":9094")], listening
    assert http(host, f"{api}/-/ready").status == 200
    assert _get(host, f"{api}/api/v2/status")["cluster"]["status"] == "disabled"


def test_the_configuration_it_was_given_passes_amtool_and_is_loaded(host, api):
    check = host.run(f"amtool check-config {CONFIG}")
    assert check.rc == 0, check.stdout + check.stderr
    assert " - 2 receivers" in check.stdout, check.stdout
    live = host.file(CONFIG)
    assert (live.user, live.group, live.mode) == ("root", "prometheus", 0o640)
    loaded = _get(host, f"{api}/api/v2/status")["config"]["original"]
    assert "ideation-molecule-alerts" in loaded and "127.0.0.1:9099/webhook" in loaded
    # amtool on the host is pointed at this Alertmanager.
    assert host.run("amtool config routes").rc == 0


@pytest.mark.parametrize(
    ("case", "task", "message"),
    [
        ("unknown_channel", "Check the routes", "channels among sns, email and webhook"),
        ("email_without_smtp", "Check the email settings", "needs alertmanager_smtp_smarthost"),
        (
            "amtool_rejects",
            "Stop when amtool rejects the configuration (the live one stays)",
            "amtool rejected the Alertmanager configuration",
        ),
    ],
)
def test_a_bad_route_or_receiver_fails_with_the_roles_message(evidence, case, task, message):
    failure = evidence["failures"][case]
    assert failure["task"] == task, failure
    assert message in failure["msg"], failure
    if case == "amtool_rejects":
        assert "whenever" in failure["msg"], failure


def test_alertmanager_kept_its_last_good_configuration(host, api, evidence):
    before, after = evidence["snapshots"]["before"], evidence["snapshots"]["after"]
    assert before == after, "the bad inputs restarted Alertmanager or changed its configuration"
    assert host.file(CONFIG).sha256sum == before["config_sha256"]
    loaded = _get(host, f"{api}/api/v2/status")["config"]["original"]
    assert "whenever" not in loaded and "oncall@example.com" not in loaded
    assert "group_wait: 1s" in loaded
    metrics = http(host, f"{api}/metrics").body
    assert metric_value(metrics, "alertmanager_config_last_reload_successful") == 1


def test_each_severity_reaches_its_receiver(host, api):
    run = uuid.uuid4().hex[:8]
    critical, warning, unlabelled = (
        f"MoleculeCritical{run}",
        f"MoleculeWarning{run}",
        f"MoleculeNoSeverity{run}",
    )
    _post_alerts(
        host,
        api,
        {"alertname": critical, "severity": "critical", "instance": "a"},
        {"alertname": warning, "severity": "warning", "instance": "a"},
        {"alertname": unlabelled, "instance": "a"},
    )
    hook = _wait("the critical webhook", lambda: _webhooks(host, critical))[0]
    assert (hook["receiver"], hook["status"]) == ("critical", "firing"), hook
    assert hook["commonLabels"]["alertname"] == critical
    sns = _wait("the critical SNS Publish", lambda: _sns(host, critical))[0]
    assert sns["form"]["Action"] == "Publish" and sns["form"]["TopicArn"] == TOPIC, sns["form"]
    assert sns["headers"]["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAMOLECULETEST/"
    ), sns["headers"]
    assert (
        _wait("the warning webhook", lambda: _webhooks(host, warning))[0]["receiver"] == "warning"
    )
    # No severity: the default severity's route (warning).
    default = _wait(
        "the webhook of the alert without severity", lambda: _webhooks(host, unlabelled)
    )
    assert default[0]["receiver"] == "warning"
    # The warning route has no SNS: give a stray Publish time to arrive, then look.
    time.sleep(3)
    assert not _sns(host, warning) and not _sns(host, unlabelled)


def test_a_critical_alert_mutes_the_warning_of_the_same_name_and_instance(host, api):
    alertname = f"MoleculeInhibit{uuid.uuid4().hex[:8]}"
    _post_alerts(host, api, {"alertname": alertname, "severity": "critical", "instance": "b"})
    _wait("the critical webhook", lambda: _webhooks(host, alertname))
    _post_alerts(host, api, {"alertname": alertname, "severity": "warning", "instance": "b"})

    def warning_state():
        alerts = _get(host, f"{api}/api/v2/alerts?filter=alertname%3D%22{alertname}%22")
        return [
            a["status"]
            for a in alerts
            if a["labels"]["severity"] == "warning" and a["status"]["state"] != "unprocessed"
        ]

    state = _wait("the warning in Alertmanager", warning_state)[0]
    assert state["state"] == "suppressed" and state["inhibitedBy"], state
    time.sleep(3)
    assert not [h for h in _webhooks(host, alertname) if h["receiver"] == "warning"]
