"""The alarm filters as provisioning meets them: through Jinja, with each inventory's data and
the pgbouncer role's pool sizes, and in ansible-doc. The rules: plugin_utils/test_alarms.py."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]
PGBOUNCER = yaml.safe_load((ROOT / "roles/pgbouncer/defaults/main.yml").read_text())
POOLS = {
    "databases": PGBOUNCER["pgbouncer_databases"],
    "pool_size": PGBOUNCER["pgbouncer_default_pool_size"],
    "reserve_pool": PGBOUNCER["pgbouncer_reserve_pool_size"],
}


def aws_data(env: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "inventories" / env / "group_vars/all/aws.yml").read_text())


@pytest.mark.parametrize(
    ("env", "hosts", "fleet", "threshold"),
    [("prod", 20, 500, 450), ("staging", 10, 250, 225), ("dev", 2, 50, 45)],
)
def test_each_inventory_gets_a_threshold_its_fleet_can_cross(
    jinja_filter: Callable[..., Any], env: str, hosts: int, fleet: int, threshold: int
) -> None:
    data = aws_data(env)
    result = jinja_filter(
        "db_connections_alarm", data["aws_rds"]["max_connections"], data["aws_asgs"],
        data["aws_alarms"]["db_connections_percent"], POOLS,
        headroom=PGBOUNCER["pgbouncer_server_connection_headroom"],
    )  # fmt: skip
    assert (result["hosts"], result["fleet"], result["threshold"]) == (hosts, fleet, threshold)
    assert result["threshold"] < result["fleet"] < data["aws_rds"]["max_connections"]


def test_a_fleet_the_database_cannot_hold_is_refused_naming_the_filter(
    rejected_by_filter: Callable[..., str],
) -> None:
    asgs = aws_data("prod")["aws_asgs"]
    rejected_by_filter("500, but max_connections 500 - headroom 10 leaves 490",
                       "db_connections_alarm", 500, asgs, 90, POOLS, headroom=10)  # fmt: skip
    rejected_by_filter("pgbouncer_databases is empty", "db_connections_alarm", 600, asgs, 90,
                       {"databases": [], "pool_size": 20, "reserve_pool": 5})  # fmt: skip


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_the_inventories_as_committed(
    jinja_filter: Callable[..., Any], rejected_by_filter: Callable[..., str], env: str
) -> None:
    """No subscriber is committed: prod and staging are refused until the operator names one."""
    data = aws_data(env)
    emails, urls = data["aws_alert_emails"], data["aws_alert_https_endpoints"]
    if env == "dev":
        assert jinja_filter("alert_subscriptions", emails, urls, env) == []
    else:
        rejected_by_filter(f"{env} needs at least one alert subscription",
                           "alert_subscriptions", emails, urls, env)  # fmt: skip
        assert jinja_filter("alert_subscriptions", ["ops@example.com"], urls, env) == [
            {"protocol": "email", "endpoint": "ops@example.com"}
        ]


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_each_inventory_defines_the_document_bucket_error_alarms(
    jinja_filter: Callable[..., Any], env: str
) -> None:
    alarms = aws_data(env)["aws_alarms"]
    four, five = jinja_filter(
        "s3_request_alarms", f"ideation-documents-{env}", f"ideation-{env}", alarms
    )
    assert (four["metric_name"], five["metric_name"]) == ("4xxErrors", "5xxErrors")
    assert 0 < five["threshold"] <= four["threshold"] < 1
    assert four["dimensions"]["FilterId"] == aws_data(env)["aws_s3_request_metrics_id"]


def test_bad_s3_thresholds_are_refused_naming_the_filter(
    rejected_by_filter: Callable[..., str],
) -> None:
    rejected_by_filter("aws_alarms has no s3_4xx_percent", "s3_request_alarms", "b", "p",
                       {"s3_5xx_percent": 1, "s3_errors_minutes": 5})  # fmt: skip


def main_data(env: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "inventories" / env / "group_vars/all/main.yml").read_text())


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_each_inventory_alarms_on_replica_lag_by_the_apps_fallback(
    jinja_filter: Callable[..., Any], env: str
) -> None:
    replica = aws_data(env)["aws_rds_replica"]
    assert replica["enabled"] is (env == "prod")
    limit = main_data(env)["platform_db_read_max_lag"]
    result = jinja_filter("replica_lag_alarm", replica["lag_alarm_seconds"],
                          replica["lag_alarm_minutes"], limit)  # fmt: skip
    assert 0 < result["threshold"] <= limit


def test_pgbouncer_entries_through_jinja(
    jinja_filter: Callable[..., Any], rejected_by_filter: Callable[..., str]
) -> None:
    """The read-only entry as the pgbouncer role gets it from its defaults."""
    args = ("ideation_ro", "", 5432, PGBOUNCER["pgbouncer_default_pool_size"],
            PGBOUNCER["pgbouncer_reserve_pool_size"], PGBOUNCER["pgbouncer_read_only_pool_size"])
    entries = jinja_filter("pgbouncer_pool_databases", PGBOUNCER["pgbouncer_databases"], *args)
    assert [e["name"] for e in entries] == ["ideation_db", "ideation_ro"]
    assert sum(e["pool_size"] + e["reserve_pool"] for e in entries) == 25
    rejected_by_filter("pgbouncer_databases must be a list", "pgbouncer_pool_databases",
                       "ideation_db", *args)  # fmt: skip
    rejected_by_filter("a read replica needs a second zone", "replica_zone", "us-east-1a",
                       ["us-east-1a"])  # fmt: skip
    assert jinja_filter("replica_zone", "us-east-1a", ["us-east-1a", "us-east-1b"]) == "us-east-1b"


@pytest.mark.parametrize("name", ["alert_subscriptions", "db_connections_alarm",
                                  "replica_lag_alarm", "replica_zone",
                                  "pgbouncer_pool_databases", "s3_request_alarms"])
def test_ansible_doc_renders(name: str) -> None:
    result = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-doc"), "-t", "filter", f"ideation.platform.{name}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "EXAMPLES" in result.stdout and "RETURN VALUES" in result.stdout
    assert "ERROR" not in result.stderr.upper()
