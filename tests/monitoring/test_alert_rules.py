"""The platform's alert rules pass `promtool check rules` and their `promtool test rules` tests.

The rules are the role's template rendered with its defaults (the design's thresholds), so the
tests check what production runs. Every alert must have a test that fires it and one that does
not; and each firing test must depend on the threshold (raising them all makes them fail).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
TESTS = HERE / "alerts.test.yml"
TEMPLATE = "etc/prometheus/rules/ideation.rules.yml.j2"

# The design's alarms (section 9) and the ones issue 6 adds: none may go missing.
REQUIRED_ALERTS = {
    "HighCpuUsage", "HighMemoryUsage", "HighHttpErrorRate", "PgBouncerPoolNearlyExhausted",
    "RedisMemoryHigh", "TargetDown", "TLSCertificateExpiringSoon", "CeleryQueueBacklog",
    "TooManyRequestsBurst", "UpstreamListStale", "ContainerRestartedUnhealthy",
    "InstanceReportedUnhealthy",
}  # fmt: skip
# Thresholds raised far beyond any test's input: every firing test must then fail.
UNREACHABLE = {
    "prometheus_alert_cpu_percent": 1000,
    "prometheus_alert_memory_percent": 1000,
    "prometheus_alert_http_error_percent": 1000,
    "prometheus_alert_pgbouncer_pool_percent": 1000,
    "prometheus_alert_redis_memory_percent": 1000,
    "prometheus_alert_cert_expiry_days": 1,
    "prometheus_alert_celery_queue_depth": 100000,
    "prometheus_alert_429_per_second": 100000,
    "prometheus_alert_upstream_sync_stale_seconds": 100000000,
    "prometheus_alert_container_restarts": 100000,
    "prometheus_alert_replica_lag_seconds": 100000,
    "prometheus_alert_read_fallbacks": 100000000,
}


def _workdir(tmp_path: Path, rules: str) -> Path:
    (tmp_path / "ideation.rules.yml").write_text(rules)
    shutil.copy(TESTS, tmp_path / TESTS.name)
    return tmp_path


@pytest.fixture
def rules(render_role_template) -> str:
    return render_role_template("prometheus", TEMPLATE, brackets=True)


def _alerts(rules: str) -> set[str]:
    return {r["alert"] for g in yaml.safe_load(rules)["groups"] for r in g["rules"] if "alert" in r}


def test_rules_pass_promtool_check(rules, promtool, tmp_path):
    work = _workdir(tmp_path, rules)
    result = promtool("check", "rules", "ideation.rules.yml", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_alert_exists_with_a_severity(rules):
    parsed = yaml.safe_load(rules)
    alerts = {r["alert"]: r for g in parsed["groups"] for r in g["rules"] if "alert" in r}
    assert alerts.keys() >= REQUIRED_ALERTS, REQUIRED_ALERTS - alerts.keys()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"], name


def test_rules_carry_the_design_thresholds(rules):
    parsed = yaml.safe_load(rules)
    alerts = {r["alert"]: r for g in parsed["groups"] for r in g["rules"] if "alert" in r}
    expected = {
        "HighCpuUsage": ("> 70", "5m"),
        "HighMemoryUsage": ("> 80", "5m"),
        "HighHttpErrorRate": ("> 5", "5m"),
        "PgBouncerPoolNearlyExhausted": ("> 90", "2m"),
        "RedisMemoryHigh": ("> 85", "5m"),
        "CeleryQueueBacklog": ("> 100", "5m"),
        "TLSCertificateExpiringSoon": ("< 14 * 86400", "10m"),
    }
    for name, (comparison, duration) in expected.items():
        assert alerts[name]["expr"].rstrip().endswith(comparison), (name, alerts[name]["expr"])
        assert alerts[name]["for"] == duration, name


def test_every_alert_has_a_firing_and_a_quiet_test(rules):
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(TESTS.read_text())["tests"]:
        checks = case.get("alert_rule_test", [])
        for check in checks:
            if check.get("exp_alerts"):
                firing.add(check["alertname"])
        # A quiet test is a case whose input never fires the alert: the "not yet" checks inside
        # a firing case (before its `for` has passed) do not count.
        fired_here = {c["alertname"] for c in checks if c.get("exp_alerts")}
        quiet |= {c["alertname"] for c in checks} - fired_here
    alerts = _alerts(rules)
    assert alerts - firing == set(), f"alerts no test fires: {alerts - firing}"
    assert alerts - quiet == set(), f"alerts no test keeps quiet: {alerts - quiet}"


def test_alert_unit_tests_pass(rules, promtool, tmp_path):
    work = _workdir(tmp_path, rules)
    result = promtool("test", "rules", TESTS.name, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_firing_tests_fail_when_thresholds_are_out_of_reach(
    render_role_template, promtool, tmp_path
):
    """A firing test that still passed with unreachable thresholds would test nothing."""
    rules = render_role_template("prometheus", TEMPLATE, brackets=True, **UNREACHABLE)
    work = _workdir(tmp_path, rules)
    result = promtool("test", "rules", TESTS.name, cwd=work)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    threshold_alerts = _alerts(rules) - {"TargetDown", "EndpointProbeFailed",
                                         "InstanceReportedUnhealthy", "UpstreamServerNotReady",
                                         "UpstreamAllNotReady"}
    firing_tests = [
        case["name"]
        for case in yaml.safe_load(TESTS.read_text())["tests"]
        if any(c.get("exp_alerts") and c["alertname"] in threshold_alerts
               for c in case["alert_rule_test"])
    ]
    for name in firing_tests:
        assert f"name: {name}," in output, f"{name} passed anyway"
