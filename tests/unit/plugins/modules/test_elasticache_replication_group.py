"""elasticache_replication_group against moto's mock_aws: create, converge, check mode, delete."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.client
import pytest
from ansible_collections.ideation.platform.plugins.modules import (
    elasticache_replication_group as module,
)
from module_runner import run_module, warnings_of

GROUP = "ideation-test-redis"


@pytest.fixture
def network(aws: None) -> dict[str, str]:
    """A VPC with two subnets, a cache subnet group, a security group and a KMS key."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.10.0/24", "us-east-1a"), ("10.0.11.0/24", "us-east-1b"))
    ]
    sg = ec2.create_security_group(GroupName="redis", Description="redis", VpcId=vpc)["GroupId"]
    boto3.client("elasticache", region_name="us-east-1").create_cache_subnet_group(
        CacheSubnetGroupName="test-redis",
        CacheSubnetGroupDescription="test",
        SubnetIds=subnets,
    )
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    return {"sg": sg, "kms": key}


def args(network: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """The design's group: 1 primary + 2 replicas, failover, Multi-AZ, encrypted, snapshots."""
    base = {
        "replication_group_id": GROUP,
        "description": "test Redis",
        "engine_version": "7.1",
        "cache_node_type": "cache.t4g.small",
        "num_cache_clusters": 3,
        "cache_subnet_group_name": "test-redis",
        "security_group_ids": [network["sg"]],
        "automatic_failover": True,
        "multi_az": True,
        "transit_encryption": True,
        "at_rest_encryption": True,
        "kms_key_id": network["kms"],
        "snapshot_retention_limit": 5,
        "snapshot_window": "03:00-04:00",
        "preferred_maintenance_window": "sun:05:00-sun:06:00",
        "tags": {"Environment": "test", "Name": GROUP},
    }
    base.update(overrides)
    return base


def describe() -> list[dict[str, Any]]:
    client = boto3.client("elasticache", region_name="us-east-1")
    return client.describe_replication_groups()["ReplicationGroups"]


def test_check_mode_on_absent_group_creates_nothing(network, capsys):
    result = run_module(module, args(network), capsys, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["num_cache_clusters"] == 3
    assert describe() == []


def test_creates_group_with_the_requested_properties(network, capsys):
    result = run_module(module, args(network), capsys)
    assert result["changed"] is True, result
    (group,) = describe()
    assert group["ReplicationGroupId"] == GROUP
    assert group["Status"] == "available"
    assert len(group["MemberClusters"]) == 3
    assert group["AutomaticFailover"] == "enabled"
    assert group["MultiAZ"] == "enabled"
    assert group["TransitEncryptionEnabled"] is True
    assert group["AtRestEncryptionEnabled"] is True
    assert group["KmsKeyId"] == network["kms"]
    assert group["SnapshotRetentionLimit"] == 5
    assert group["SnapshotWindow"] == "03:00-04:00"
    assert result["primary_endpoint"]["address"].startswith("master.")
    assert result["primary_endpoint"]["port"] == 6379
    assert result["replication_group"]["tags"] == {"Environment": "test", "Name": GROUP}


def test_second_run_changes_nothing(network, capsys):
    run_module(module, args(network), capsys)
    result = run_module(module, args(network), capsys, diff=True)
    assert result["changed"] is False, result["diff"]
    assert result["diff"] == {"before": {}, "after": {}}


def test_modification_reports_a_diff_and_applies(network, capsys):
    run_module(module, args(network), capsys)
    changed = args(network, snapshot_retention_limit=7, description="renamed")
    result = run_module(module, changed, capsys, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {"description": "test Redis", "snapshot_retention_limit": 5}
    assert result["diff"]["after"] == {"description": "renamed", "snapshot_retention_limit": 7}
    (group,) = describe()
    assert group["SnapshotRetentionLimit"] == 7
    assert group["Description"] == "renamed"
    assert run_module(module, changed, capsys)["changed"] is False


def test_check_mode_modification_changes_nothing(network, capsys):
    run_module(module, args(network), capsys)
    result = run_module(module, args(network, multi_az=False), capsys, check_mode=True)
    assert result["changed"] is True
    assert describe()[0]["MultiAZ"] == "enabled"


def test_immutable_setting_is_warned_about_not_changed(network, capsys):
    run_module(module, args(network), capsys)
    result = run_module(module, args(network, at_rest_encryption=False), capsys)
    assert result["changed"] is False
    assert any("at_rest_encryption" in w and "cannot change" in w for w in warnings_of(result))


def test_tags_are_added_and_purged(network, capsys):
    run_module(module, args(network), capsys)
    result = run_module(module, args(network, tags={"Environment": "test", "Owner": "x"}), capsys)
    assert result["changed"] is True
    assert result["replication_group"]["tags"] == {"Environment": "test", "Owner": "x"}


def test_node_count_change_uses_increase_replica_count(network, capsys, monkeypatch):
    run_module(module, args(network), capsys)
    calls: list[tuple[str, dict[str, Any]]] = []
    original = botocore.client.BaseClient._make_api_call

    def intercept(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation in ("IncreaseReplicaCount", "DecreaseReplicaCount"):
            calls.append((operation, params))
            return {"ReplicationGroup": {}}
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", intercept)
    result = run_module(module, args(network, num_cache_clusters=4), capsys, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {"num_cache_clusters": 3}
    assert calls == [
        (
            "IncreaseReplicaCount",
            {"ReplicationGroupId": GROUP, "NewReplicaCount": 3, "ApplyImmediately": True},
        )
    ]


def test_absent_deletes_and_is_idempotent(network, capsys):
    run_module(module, args(network), capsys)
    gone = {"replication_group_id": GROUP, "state": "absent"}
    assert run_module(module, gone, capsys, check_mode=True)["changed"] is True
    assert len(describe()) == 1
    assert run_module(module, gone, capsys)["changed"] is True
    assert describe() == []
    assert run_module(module, gone, capsys)["changed"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_cache_clusters": 1}, "automatic_failover needs num_cache_clusters of at least 2"),
        ({"num_cache_clusters": 7}, "between 1 and 6"),
        ({"replication_group_id": "bad--name"}, "1-40 letters"),
        ({"automatic_failover": False}, "multi_az needs automatic_failover"),
    ],
)
def test_invalid_arguments_fail_before_any_call(network, capsys, overrides, message):
    result = run_module(module, args(network, **overrides), capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert describe() == []


def test_creation_without_node_type_fails_clearly(network, capsys):
    result = run_module(module, args(network, cache_node_type=None), capsys)
    assert result["failed"] is True
    assert "cache_node_type" in result["msg"]


def test_busy_group_is_waited_for_not_modified(network, capsys):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.elasticache.models import elasticache_backends

    run_module(module, args(network), capsys)
    group = elasticache_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].replication_groups[GROUP]
    group.status = "modifying"
    result = run_module(module, args(network, description="x", wait_timeout=15), capsys)
    assert result["failed"] is True
    assert "Timed out waiting" in result["msg"]
    assert describe()[0]["Description"] == "test Redis"


TOKEN = "Redis-AUTH-token-0123456789abcdef"


def test_a_group_created_with_a_token_requires_auth_and_converges(network, capsys):
    created = run_module(module, args(network, auth_token=TOKEN), capsys, diff=True)
    assert created["changed"] is True, created
    assert describe()[0]["AuthTokenEnabled"] is True
    again = run_module(module, args(network, auth_token=TOKEN), capsys, check_mode=True)
    assert again["changed"] is False, again
    assert TOKEN not in json.dumps([created, again])


def test_a_group_without_auth_gets_the_token_once(network, capsys):
    run_module(module, args(network), capsys)
    assert describe()[0]["AuthTokenEnabled"] is False
    planned = run_module(module, args(network, auth_token=TOKEN), capsys, check_mode=True,
                         diff=True)
    assert planned["changed"] is True
    assert planned["diff"]["after"] == {"auth_token_enabled": True,
                                        "auth_token_update_strategy": "ROTATE"}
    assert describe()[0]["AuthTokenEnabled"] is False
    added = run_module(module, args(network, auth_token=TOKEN), capsys)
    assert added["changed"] is True and describe()[0]["AuthTokenEnabled"] is True
    assert run_module(module, args(network, auth_token=TOKEN), capsys)["changed"] is False
    assert TOKEN not in json.dumps([planned, added])


def test_a_strategy_rotates_every_time_and_delete_turns_auth_off(network, capsys):
    run_module(module, args(network, auth_token=TOKEN), capsys)
    rotate = args(network, auth_token=TOKEN[::-1], auth_token_update_strategy="ROTATE")
    assert run_module(module, rotate, capsys)["changed"] is True
    assert run_module(module, rotate, capsys)["changed"] is True  # ElastiCache cannot compare
    off = args(network, auth_token_update_strategy="DELETE")
    assert run_module(module, off, capsys)["changed"] is True
    assert describe()[0]["AuthTokenEnabled"] is False
    assert run_module(module, off, capsys)["changed"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth_token": "short"}, "auth_token must be 16-128 printable ASCII characters"),
        ({"auth_token": "a" * 20 + "@"}, "without spaces, @"),
        ({"auth_token": TOKEN, "transit_encryption": False}, "auth_token needs transit_encryption"),
        ({"auth_token_update_strategy": "SET"}, "SET needs auth_token"),
        ({"auth_token": TOKEN, "auth_token_update_strategy": "DELETE"},
         "DELETE takes no auth_token"),
    ],
)
def test_bad_tokens_fail_before_any_call(network, capsys, overrides, message):
    result = run_module(module, args(network, **overrides), capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert describe() == []
    assert "a" * 20 + "@" not in json.dumps(result)
