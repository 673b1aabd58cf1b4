"""dev, the twin's environment: provisioned small, then torn down completely (production's
teardown keeps its data; this one exercises every deletion path), on its own moto server."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PREFIX = "ideation-dev"
DOMAIN = "dev.ideation.example.com"
DATA_NAMES = (f"db.{DOMAIN}.", f"cache.{DOMAIN}.")


SECRETS = {
    f"ideation/dev/{n}"
    for n in ("db/password", "db/master_password", "jwt/secret", "api/key", "redis/auth_token")
}
# What earlier releases made and provisioning now removes (playbooks/provision/retired.yml).
RETIRED_USER = f"{PREFIX}-presign"
RETIRED_SECRETS = ("ideation/dev/aws/access_key", "ideation/dev/aws/secret_key")
TIERS = ("nginx", "api", "celery", "monitoring", "bastion")


@pytest.fixture(scope="module")
def legacy(moto_server: Any) -> dict[str, str]:
    """An environment as an earlier release left it: the presigning user with its inline policy
    and an access key, whose key pair two secrets hold. Returns the key pair."""
    iam = moto_server.client("iam")
    iam.create_user(UserName=RETIRED_USER, Tags=[{"Key": "Environment", "Value": "dev"}])
    statement = {"Effect": "Allow", "Action": "s3:PutObject",
                 "Resource": "arn:aws:s3:::ideation-documents-dev/*"}
    iam.put_user_policy(UserName=RETIRED_USER, PolicyName="ideation-presign",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": [statement]}))
    key = iam.create_access_key(UserName=RETIRED_USER)["AccessKey"]
    pair = {RETIRED_SECRETS[0]: key["AccessKeyId"], RETIRED_SECRETS[1]: key["SecretAccessKey"]}
    for name, value in pair.items():
        moto_server.client("secretsmanager").create_secret(Name=name, SecretString=value)
    return pair


@pytest.fixture(scope="module")
def legacy_public_names(moto_server: Any) -> str:
    """An environment provisioned before the private zone: its public zone names the data
    stores (the values are what they were: the endpoints)."""
    r53 = moto_server.client("route53")
    zone = r53.create_hosted_zone(Name=DOMAIN, CallerReference="legacy",
                                  HostedZoneConfig={"Comment": "ideation dev",
                                                    "PrivateZone": False})["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": name, "Type": "CNAME", "TTL": 300,
            "ResourceRecords": [{"Value": "old-endpoint.example.com"}]}}
        for name in DATA_NAMES]})
    return zone.removeprefix("/hostedzone/")


@pytest.fixture(scope="module")
def provisioned(ansible: Any, moto_server: Any, legacy: dict[str, str],
                legacy_public_names: str) -> Any:
    # What provisioning made before one role per tier: the shared role and profile, which this
    # run retires (no instance uses them).
    iam = moto_server.client("iam")
    shared = f"{PREFIX}-instance"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ec2.amazonaws.com"},
            }
        ],
    }
    read = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    iam.create_role(RoleName=shared, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=shared, PolicyName="ideation-app", PolicyDocument=json.dumps(read))
    iam.create_instance_profile(InstanceProfileName=shared)
    iam.add_role_to_instance_profile(InstanceProfileName=shared, RoleName=shared)
    run = ansible.playbook("provision.yml", "dev")
    assert run.returncode == 0, run.tail(150)
    return run


def test_the_upgrade_removes_the_presigning_user_and_its_key_pair(provisioned, moto_server,
                                                                   legacy):
    iam = moto_server.client("iam")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == []
    names = {s["Name"] for s in moto_server.client("secretsmanager").list_secrets(
        IncludePlannedDeletion=True)["SecretList"]}
    assert names == SECRETS
    assert {"Remove the secrets that held the presigning user's key pair",
            "Remove the presigning user with its access keys and policy"} <= set(
        provisioned.changed_tasks())
    output = provisioned.stdout + provisioned.stderr
    assert [name for name, value in legacy.items() if value in output] == []


def test_a_second_run_after_the_upgrade_changes_nothing(provisioned, ansible):
    run = ansible.playbook("provision.yml", "dev")
    assert run.returncode == 0, run.tail()
    assert run.changed == 0, run.changed_tasks()


def record_names(moto: Any, zone: str) -> set[tuple[str, str]]:
    sets = moto.client("route53").list_resource_record_sets(HostedZoneId=zone)
    return {(r["Name"], r["Type"]) for r in sets["ResourceRecordSets"]}


def test_the_upgrade_removes_the_data_stores_from_the_public_zone(
        provisioned, moto_server, ansible, legacy_public_names):
    outputs = json.loads((ansible.outputs / "dev.json").read_text())
    assert outputs["hosted_zone_id"] == legacy_public_names  # the same public zone, kept
    public = record_names(moto_server, legacy_public_names)
    assert {(n, "CNAME") for n in DATA_NAMES} & public == set()
    private = outputs["private_hosted_zone_id"]
    assert private and private != legacy_public_names
    assert {(n, "CNAME") for n in DATA_NAMES} <= record_names(moto_server, private)


def test_dev_is_one_of_each_and_small(provisioned, moto_server):
    groups = moto_server.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert {g["AutoScalingGroupName"]: len(g["Instances"]) for g in groups} == {
        f"{PREFIX}-{role}": 1 for role in ("nginx", "api", "celery", "monitoring", "bastion")
    }
    # One database: dev has no read replica (section 11, aws_rds_replica.enabled false).
    (db,) = moto_server.client("rds").describe_db_instances()["DBInstances"]
    assert (db["DBInstanceClass"], db["AllocatedStorage"], db["MultiAZ"]) == (
        "db.t3.micro",
        20,
        False,
    )
    redis = moto_server.client("elasticache").describe_replication_groups()["ReplicationGroups"][0]
    assert (len(redis["MemberClusters"]), redis["AutomaticFailover"]) == (1, "disabled")
    names = {s["Name"] for s in moto_server.client("secretsmanager").list_secrets()["SecretList"]}
    assert names == SECRETS


def test_the_former_shared_role_is_retired_for_one_role_per_tier(provisioned, moto_server):
    iam = moto_server.client("iam")
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)}
    assert roles == {f"{PREFIX}-{tier}" for tier in TIERS} | {f"{PREFIX}-rds-monitoring"}
    profiles = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    assert profiles == {f"{PREFIX}-{tier}" for tier in TIERS}
    ec2 = moto_server.client("ec2")
    for tier in TIERS:
        data = ec2.describe_launch_template_versions(
            LaunchTemplateName=f"{PREFIX}-{tier}", Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        profile = data["IamInstanceProfile"]  # the module names it by its ARN
        assert profile.get("Name", profile.get("Arn", "").rsplit("/", 1)[-1]) == f"{PREFIX}-{tier}"


def test_dev_inventory_lists_one_host_per_role(provisioned, ansible):
    inventory = ansible.inventory("dev", "--flush-cache")
    for role in ("nginx", "api", "celery", "monitoring", "bastion"):
        (host,) = inventory[role]["hosts"]
        assert inventory["_meta"]["hostvars"][host]["ansible_host"].startswith("10.2.")


def test_dev_teardown_leaves_nothing(provisioned, ansible, moto_server):
    # Access logs as S3 delivers them: the log bucket is emptied before it is removed. (Its
    # TLS-only policy refuses this test's plain-HTTP put, which moto evaluates: lifted first.)
    s3 = moto_server.client("s3")
    s3.delete_bucket_policy(Bucket=f"{PREFIX}-access-logs")
    s3.put_object(Bucket=f"{PREFIX}-access-logs", Body=b"log line\n",
                  Key="ideation-documents-dev/2026-12-06-18-00-00-0A1B2C")  # fmt: skip
    run = ansible.playbook("teardown.yml", "dev")
    assert run.returncode == 0, run.tail(150)
    ec2 = moto_server.client("ec2")
    assert [v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
    assert ec2.describe_addresses()["Addresses"] == []
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert moto_server.client("s3").list_buckets()["Buckets"] == []
    assert moto_server.client("secretsmanager").list_secrets()["SecretList"] == []
    assert moto_server.client("ssm").describe_parameters()["Parameters"] == []
    assert moto_server.client("rds").describe_db_snapshots()["DBSnapshots"] == []
    assert moto_server.client("rds").describe_db_instances()["DBInstances"] == []
    assert (
        moto_server.client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"] == []
    )
    assert (
        moto_server.client("logs").describe_log_groups(logGroupNamePrefix="/ideation/")["logGroups"]
        == []
    )
    assert moto_server.client("sns").list_topics()["Topics"] == []
    iam = moto_server.client("iam")
    assert [
        r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)
    ] == []
    assert iam.list_users()["Users"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    kms = moto_server.client("kms")
    keys = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
    ours = [k for k in keys if k.get("Description", "").startswith("ideation dev")]
    assert [k["KeyState"] for k in ours] == ["PendingDeletion"]
    assert moto_server.client("route53").list_hosted_zones()["HostedZones"] == []
    assert moto_server.client("acm").list_certificates()["CertificateSummaryList"] == []
