"""On an empty account: --check creates nothing, and bad data fails before any changing call.

moto's recorder logs every request the playbook makes; the tests assert that each one is a
read (Describe*, List*, Get*, GET) and that the account is as empty afterwards as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def prod_network() -> dict[str, Any]:
    return yaml.safe_load((REPO / "inventories/prod/group_vars/all/network.yml").read_text())


def account_contents(moto: Any) -> dict[str, list[str]]:
    """Everything provisioning could create, by service, as names or IDs."""
    ec2 = moto.client("ec2")
    paginate = lambda client, op, key, **kw: [  # noqa: E731 - local shorthand
        item for page in client.get_paginator(op).paginate(**kw) for item in page[key]
    ]
    return {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]],
        "addresses": [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]],
        "launch_templates": [
            t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        ],
        "kms_aliases": [
            a["AliasName"]
            for a in moto.client("kms").list_aliases()["Aliases"]
            if a["AliasName"].startswith("alias/ideation")
        ],
        "buckets": [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]],
        "parameters": [
            p["Name"] for p in moto.client("ssm").describe_parameters()["Parameters"]
        ],
        "roles": [
            r["RoleName"]
            for r in paginate(moto.client("iam"), "list_roles", "Roles")
            if r["RoleName"].startswith("ideation")
        ],
        "users": [u["UserName"] for u in moto.client("iam").list_users()["Users"]],
        "secrets": [s["Name"] for s in moto.client("secretsmanager").list_secrets()["SecretList"]],
        "databases": [
            d["DBInstanceIdentifier"]
            for d in moto.client("rds").describe_db_instances()["DBInstances"]
        ],
        "caches": [
            g["ReplicationGroupId"]
            for g in moto.client("elasticache").describe_replication_groups()["ReplicationGroups"]
        ],
        "asgs": [
            g["AutoScalingGroupName"]
            for g in moto.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        ],
        "log_groups": [
            g["logGroupName"] for g in moto.client("logs").describe_log_groups()["logGroups"]
        ],
        "topics": [t["TopicArn"] for t in moto.client("sns").list_topics()["Topics"]],
        "alarms": [
            a["AlarmName"] for a in moto.client("cloudwatch").describe_alarms()["MetricAlarms"]
        ],
        "zones": [z["Name"] for z in moto.client("route53").list_hosted_zones()["HostedZones"]],
        "health_checks": [
            h["Id"] for h in moto.client("route53").list_health_checks()["HealthChecks"]
        ],
        "certificates": [
            c["CertificateArn"]
            for c in moto.client("acm").list_certificates()["CertificateSummaryList"]
        ],
    }


def test_check_mode_on_an_empty_account_changes_nothing(ansible, moto_server):
    before = account_contents(moto_server)
    moto_server.start_recording()
    run = ansible.playbook("provision.yml", "prod", "--check")
    actions = moto_server.stop_recording()
    assert run.returncode == 0, run.tail()
    # It says what it would create...
    assert run.changed > 0
    assert {
        "Ensure the VPC exists",
        "Ensure the platform's KMS key exists with yearly rotation",
    } <= set(run.changed_tasks())
    assert "Report that the document bucket would be created" in run.changed_tasks()
    assert "Report that the artifacts bucket would be created" in run.changed_tasks()
    assert "Ensure the environment's release pointer exists" in run.changed_tasks()
    # ...and creates none of it: every call was a read, and the account is as it was.
    assert moto_server.writes(actions) == [], actions
    assert account_contents(moto_server) == before
    assert not (ansible.outputs / "prod.json").exists()


def write_vars(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return f"@{path}"


def overlapping_tiers() -> dict[str, Any]:
    tiers = prod_network()["network_tiers"]
    for tier in tiers:
        if tier["name"] == "private":
            tier["offset"] = 2  # 10.0.2.0/24 and up: the second public subnet's block
    return {"network_tiers": tiers}


def unknown_group() -> dict[str, Any]:
    matrix = prod_network()["network_security_groups"]
    for group in matrix["groups"]:
        if group["name"] == "redis":
            group["ingress"].append({"from": "cache", "ports": 6379, "desc": "from a typo"})
    return {"network_security_groups": matrix}


def no_alert_subscriber() -> dict[str, Any]:
    return {"aws_alert_emails": [], "aws_alert_https_endpoints": []}


def plain_http_alert_endpoint() -> dict[str, Any]:
    return {"aws_alert_https_endpoints": ["http://pager.example.com/sns"]}


@pytest.mark.parametrize(
    ("case", "data", "message"),
    [
        ("overlapping-subnet", overlapping_tiers, "overlap"),
        ("unknown-security-group", unknown_group, "cache"),
        ("no-alert-subscriber", no_alert_subscriber,
         "prod needs at least one alert subscription, or every alarm notifies nobody"),
        ("plain-http-alert-endpoint", plain_http_alert_endpoint, "is not an https:// URL"),
    ],
)
def test_bad_data_fails_before_any_change(ansible, moto_server, tmp_path, case, data, message):
    before = account_contents(moto_server)
    moto_server.start_recording()
    run = ansible.playbook("provision.yml", "prod", "-e", write_vars(tmp_path, case, data()))
    actions = moto_server.stop_recording()
    assert run.returncode != 0, run.tail()
    assert message in run.stdout + run.stderr, run.tail()
    assert moto_server.writes(actions) == [], actions
    assert account_contents(moto_server) == before


@pytest.mark.parametrize(
    ("env", "confirm"),
    [("prod", []), ("staging", []), ("staging", ["-e", "teardown_confirm=prod"])],
)
def test_teardown_without_the_environments_name_is_refused(ansible, moto_server, env, confirm):
    """Every environment but dev: no name typed (no terminal here), or the wrong one, is refused
    before any AWS call."""
    before = account_contents(moto_server)
    moto_server.start_recording()
    run = ansible.playbook("teardown.yml", env, *confirm)
    actions = moto_server.stop_recording()
    assert run.returncode != 0
    assert f"Refusing to tear down {env}" in run.stdout, run.tail()
    assert f"teardown_confirm={env}" in run.stdout
    assert moto_server.writes(actions) == [], actions
    assert account_contents(moto_server) == before


def test_teardown_takes_the_name_as_confirm(ansible, moto_server):
    """-e confirm=<env> passes the gate (only the gate runs: its tag)."""
    moto_server.start_recording()
    run = ansible.playbook(
        "teardown.yml", "staging", "-e", "confirm=staging", "--tags", "teardown_confirm"
    )
    actions = moto_server.stop_recording()
    assert run.returncode == 0, run.tail()
    assert "Refusing" not in run.stdout and run.recap["failed"] == 0
    assert moto_server.writes(actions) == [], actions


def test_staging_without_an_alert_subscriber_is_refused(ansible, moto_server, tmp_path):
    before = account_contents(moto_server)
    run = ansible.playbook(
        "provision.yml", "staging", "-e", write_vars(tmp_path, "none", no_alert_subscriber())
    )
    assert run.returncode != 0, run.tail()
    assert "staging needs at least one alert subscription" in run.stdout, run.tail()
    assert account_contents(moto_server) == before
