"""provision.yml builds production as the design states it, converges, feeds the inventory,
gives site.yml's roles what they need (through inventories/prod's group_vars), and teardown.yml
removes it again; all against one moto server.

The tests of this module share one provisioning run (the `provisioned` fixture) and run in file
order: second run, inventory, then teardown last.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import leaks
import pytest
import site_vars
import yaml
from ansible_collections.ideation.platform.plugins.plugin_utils import instance_policies
from ansible_collections.ideation.platform.plugins.plugin_utils.iam_eval import allows

pytestmark = pytest.mark.integration

BOOT_SCRIPT = Path(__file__).resolve().parents[3] / "plugins/plugin_utils/boot.py"
PREFIX = "ideation-prod"
OUTPUTS_PARAMETER = "/ideation/prod/outputs"
DOMAIN = "ideation.example.com"
ROLES = ("nginx", "api", "celery", "monitoring", "bastion")
SIZES = {
    "nginx": (2, 5),
    "api": (2, 10),
    "celery": (2, 10),
    "monitoring": (2, 2),
    "bastion": (1, 1),
}
SECRETS = (
    "ideation/db/password",
    "ideation/db/master_password",
    "ideation/jwt/secret",
    "ideation/api/key",
    "ideation/redis/auth_token",
)
# The secrets the operator creates once (inventories/prod/group_vars/all/site.yml), by key.
SITE_SECRETS = {
    "grafana_admin_password": "grafana/admin_password",
    "grafana_secret_key": "grafana/secret_key",
    "pgbouncer_exporter_password": "pgbouncer/exporter_password",
    "flower_password": "flower/password",
}
# A release id as deploy.yml would leave it on the pointer (docs/releases.md).
DEPLOYED = "20261206T113336Z-9d465a0c1b2e"
# Design section 3, subnet by subnet.
SUBNETS = {
    "10.0.1.0/24": ("public", "us-east-1a"),
    "10.0.2.0/24": ("public", "us-east-1b"),
    "10.0.10.0/24": ("private", "us-east-1a"),
    "10.0.11.0/24": ("private", "us-east-1b"),
    "10.0.20.0/24": ("database", "us-east-1a"),
    "10.0.21.0/24": ("database", "us-east-1b"),
}


@pytest.fixture(scope="module")
def bakes(moto_server: Any) -> dict[str, str]:
    """Bakes (playbooks/bake.yml's tags) as an earlier bake would have left them: the api's from
    the base image provisioning finds, nginx's from an older base. By role."""
    ec2 = moto_server.client("ec2")
    (base,) = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["debian-12-amd64-*"]}]
    )["Images"]
    made = {}
    for role, source in (("api", base["ImageId"]), ("nginx", "ami-0ldba5e0000000000")):
        made[role] = ec2.copy_image(
            SourceImageId=base["ImageId"], SourceRegion=moto_server.region, Name=f"bake-{role}"
        )["ImageId"]
        ec2.create_tags(Resources=[made[role]], Tags=[
            {"Key": "Purpose", "Value": "bake"}, {"Key": "Role", "Value": role},
            {"Key": "Environment", "Value": "prod"}, {"Key": "BaseImage", "Value": source},
        ])  # fmt: skip
    return {"base": base["ImageId"], **made}


@pytest.fixture(scope="module")
def provisioned(ansible: Any, bakes: dict[str, str]) -> Any:
    run = ansible.playbook("provision.yml", "prod", "-vvv")
    assert run.returncode == 0, run.tail(150)
    return run


@pytest.fixture(scope="module")
def outputs(provisioned: Any, ansible: Any) -> dict[str, Any]:
    return json.loads((ansible.outputs / "prod.json").read_text())


@pytest.fixture(scope="module")
def vpc_id(provisioned: Any, moto_server: Any) -> str:
    vpcs = moto_server.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-vpc"]}]
    )["Vpcs"]
    assert len(vpcs) == 1
    return vpcs[0]["VpcId"]


def tags(resource: dict[str, Any], key: str = "Tags") -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get(key, [])}


def sg_ids(moto: Any, vpc_id: str) -> dict[str, str]:
    groups = moto.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return {g["GroupName"].removeprefix(f"{PREFIX}-"): g["GroupId"] for g in groups}


# -- network ---------------------------------------------------------------------------------


def test_first_run_creates(provisioned):
    assert provisioned.changed > 50


def test_vpc_and_subnets_follow_the_plan(moto_server, vpc_id):
    ec2 = moto_server.client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    attribute = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    assert attribute["EnableDnsHostnames"]["Value"] is True
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    found = {s["CidrBlock"]: (tags(s)["Tier"], s["AvailabilityZone"]) for s in subnets}
    assert found == SUBNETS
    public = {s["CidrBlock"]: s["MapPublicIpOnLaunch"] for s in subnets}
    assert {c for c, on in public.items() if on} == {"10.0.1.0/24", "10.0.2.0/24"}


def test_routes_per_tier_with_a_nat_gateway_per_zone(moto_server, vpc_id):
    ec2 = moto_server.client("ec2")
    by_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=by_filter)["Subnets"]}
    igw = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
    )["InternetGateways"]
    assert len(igw) == 1
    nats = ec2.describe_nat_gateways(
        Filters=[*by_filter, {"Name": "state", "Values": ["available"]}]
    )["NatGateways"]
    nat_zone = {n["NatGatewayId"]: subnets[n["SubnetId"]]["AvailabilityZone"] for n in nats}
    assert sorted(nat_zone.values()) == ["us-east-1a", "us-east-1b"]
    assert all(tags(subnets[n["SubnetId"]])["Tier"] == "public" for n in nats)
    assert all(tags(n)["Environment"] == "prod" for n in nats)
    for table in ec2.describe_route_tables(Filters=by_filter)["RouteTables"]:
        members = [subnets[a["SubnetId"]] for a in table["Associations"] if a.get("SubnetId")]
        default = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        for subnet in members:
            tier = tags(subnet)["Tier"]
            if tier == "public":
                assert default[0]["GatewayId"] == igw[0]["InternetGatewayId"]
            elif tier == "private":
                assert nat_zone[default[0]["NatGatewayId"]] == subnet["AvailabilityZone"]
            else:
                assert default == [], "the database subnets have no route out of the VPC"


def test_security_groups_follow_the_matrix(moto_server, vpc_id):
    ids = sg_ids(moto_server, vpc_id)
    assert {"nginx", "api", "celery", "database", "redis", "bastion", "monitoring"} <= set(ids)
    groups = {
        g["GroupName"].removeprefix(f"{PREFIX}-"): g
        for g in moto_server.client("ec2").describe_security_groups(GroupIds=list(ids.values()))[
            "SecurityGroups"
        ]
    }

    def opens(group: str, port: int, direction: str = "IpPermissions") -> set[str]:
        peers = set()
        for perm in groups[group][direction]:
            if perm.get("FromPort") is not None and not perm["FromPort"] <= port <= perm["ToPort"]:
                continue
            peers |= {r["CidrIp"] for r in perm.get("IpRanges", [])}
            peers |= {p["GroupId"] for p in perm.get("UserIdGroupPairs", [])}
        return peers

    assert "0.0.0.0/0" in opens("nginx", 443) and "0.0.0.0/0" in opens("nginx", 80)
    assert opens("api", 8000) >= {ids["nginx"]}
    assert ids["bastion"] in opens("api", 22)
    assert opens("database", 5432) >= {ids["api"]}
    assert "0.0.0.0/0" not in opens("database", 5432)
    assert opens("redis", 6379) >= {ids["api"]}
    assert "203.0.113.10/32" in opens("bastion", 22)
    assert groups["database"]["IpPermissionsEgress"] == []
    assert groups["redis"]["IpPermissionsEgress"] == []


# -- storage, encryption, identity, secrets ----------------------------------------------------


def test_kms_key_rotates(moto_server):
    kms = moto_server.client("kms")
    alias = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == f"alias/{PREFIX}"]
    assert len(alias) == 1
    assert kms.get_key_rotation_status(KeyId=alias[0]["TargetKeyId"])["KeyRotationEnabled"]


def test_document_bucket_as_section_7_says(moto_server):
    s3 = moto_server.client("s3")
    bucket = "ideation-documents-prod"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert lifecycle["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30
    }
    archive = lifecycle["archive-then-delete"]
    assert archive["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]
    assert archive["Expiration"] == {"Days": 365}
    assert all(r["Status"] == "Enabled" for r in lifecycle.values())
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [r["AllowedOrigins"] for r in cors] == [[f"https://{DOMAIN}"]]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_artifacts_bucket_and_release_pointer(moto_server, outputs):
    s3 = moto_server.client("s3")
    bucket = f"{PREFIX}-artifacts"
    assert outputs["artifacts_bucket"] == bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": outputs["kms_key_arn"]}
    assert rule["BucketKeyEnabled"] is True
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(deny["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    assert lifecycle["Status"] == "Enabled"
    ssm = moto_server.client("ssm")
    assert outputs["release_parameter"] == "/ideation/prod/release/current"
    parameter = ssm.get_parameter(Name="/ideation/prod/release/current")["Parameter"]
    assert (parameter["Type"], parameter["Value"]) == ("String", "none")
    # A deploy moves the pointer; the second run below must leave it where the deploy put it.
    ssm.put_parameter(Name="/ideation/prod/release/current", Value=DEPLOYED, Overwrite=True)


ACCESS_LOGS = f"{PREFIX}-access-logs"
LOGGED = ("ideation-documents-prod", f"{PREFIX}-artifacts")


def test_access_log_bucket_takes_each_bucket_s_logs_and_expires_them(moto_server):
    """Section 7: server access logs of both buckets, each under its own prefix, into a bucket
    that is encrypted (SSE-S3: S3 delivers no logs to an SSE-KMS one), private, TLS-only, keeps
    them 365 days, and admits S3's logging service for those two buckets of this account only."""
    s3 = moto_server.client("s3")
    for source in LOGGED:
        enabled = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
        assert (enabled["TargetBucket"], enabled["TargetPrefix"]) == (ACCESS_LOGS, f"{source}/")
    (rule,) = s3.get_bucket_encryption(Bucket=ACCESS_LOGS)[
        "ServerSideEncryptionConfiguration"]["Rules"]  # fmt: skip
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=ACCESS_LOGS)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    ownership = s3.get_bucket_ownership_controls(Bucket=ACCESS_LOGS)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]  # no ACLs
    (expiry,) = s3.get_bucket_lifecycle_configuration(Bucket=ACCESS_LOGS)["Rules"]
    assert (expiry["Expiration"], expiry["Status"]) == ({"Days": 365}, "Enabled")
    account = moto_server.client("sts").get_caller_identity()["Account"]
    statements = json.loads(s3.get_bucket_policy(Bucket=ACCESS_LOGS)["Policy"])["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert {s["Resource"]: s["Condition"] for s in allows} == {
        f"arn:aws:s3:::{ACCESS_LOGS}/{source}/*": {
            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source}"},
            "StringEquals": {"aws:SourceAccount": account},
        }
        for source in LOGGED
    }
    assert all(s["Principal"] == {"Service": "logging.s3.amazonaws.com"} for s in allows)
    assert all(s["Action"] == "s3:PutObject" for s in allows)
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert s3.get_bucket_tagging(Bucket=ACCESS_LOGS)["TagSet"]


def test_document_bucket_publishes_request_metrics(moto_server):
    s3 = moto_server.client("s3")
    configuration = s3.get_bucket_metrics_configuration(
        Bucket="ideation-documents-prod", Id="EntireBucket")["MetricsConfiguration"]  # fmt: skip
    assert configuration == {"Id": "EntireBucket"}  # no filter: every object


def test_each_tier_has_its_own_role_profile_and_policy(moto_server, outputs):
    """One role and profile per tier, each carrying the policy the table renders for it; the
    behaviour of those policies is tests/unit/test_iam_policies.py's."""
    iam = moto_server.client("iam")
    assert outputs["instance_profiles"] == {role: f"{PREFIX}-{role}" for role in ROLES}
    zone = outputs["hosted_zone_id"].rsplit("/", 1)[-1]
    secrets_arn = (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ideation/db/password-AbC123"
    )
    for role in ROLES:
        name = f"{PREFIX}-{role}"
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["ideation-instance"]
        assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
        document = iam.get_role_policy(RoleName=name, PolicyName="ideation-instance")[
            "PolicyDocument"
        ]
        assert document == instance_policies.tier_policy(role, _facts(outputs, zone)), role
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        assert [r["RoleName"] for r in profile["Roles"]] == [name]
        group = (
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
            f"0b6a4f1e-5c1d-4b8f-9a53-3d2f4b1c0e99:autoScalingGroupName/{name}"
        )
        assert allows(document, "autoscaling:CompleteLifecycleAction", group), role
        readers = ("api", "celery")
        assert allows(document, "secretsmanager:GetSecretValue", secrets_arn) is (
            role in readers
        ), role
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert f"{PREFIX}-instance" not in roles
    profiles = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    assert profiles == {f"{PREFIX}-{role}" for role in ROLES}


def _facts(outputs: dict[str, Any], zone: str) -> dict[str, Any]:
    """The facts identity.yml hands the filter, rebuilt from the outputs."""
    return {
        "kms_key_arn": outputs["kms_key_arn"],
        "region": outputs["region"],
        "prefix": PREFIX,
        "release_parameter": outputs["release_parameter"],
        "outputs_parameter": "/ideation/prod/outputs",
        "artifacts_bucket": outputs["artifacts_bucket"],
        "documents_bucket": outputs["documents_bucket"],
        "metrics_namespace": "Ideation",
        "alert_topic": f"{PREFIX}-alerts",
        "domain": DOMAIN,
        "hosted_zone_id": zone,
        "secrets": {
            **outputs["secrets"],
            **{k: f"ideation/{v}" for k, v in SITE_SECRETS.items()},
        },
    }


def test_secrets_exist_with_generated_values_never_printed(
    moto_server, provisioned, outputs, ansible
):
    sm = moto_server.client("secretsmanager")
    values = {}
    for name in SECRETS:
        secret = sm.describe_secret(SecretId=name)
        assert secret["KmsKeyId"] == outputs["kms_key_arn"]
        values[name] = sm.get_secret_value(SecretId=name)["SecretString"]
    assert all(len(v) >= 20 for v in values.values())
    assert len(set(values.values())) == len(values)
    # No long-lived key: the API presigns with its instance role (no IAM user at all).
    assert moto_server.client("iam").list_users()["Users"] == []
    listed = moto_server.client("secretsmanager").list_secrets()["SecretList"]
    assert sorted(s["Name"] for s in listed) == sorted(SECRETS)
    assert outputs["secrets"]["db_password"] == "ideation/db/password"
    # The run was -vvv: every module's arguments and results are in its output.
    leaks.assert_no_secret_in(provisioned.stdout + provisioned.stderr, values.values())


# -- data stores -----------------------------------------------------------------------------


def test_database_as_section_5_says(moto_server, vpc_id, outputs):
    rds = moto_server.client("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{PREFIX}-db")["DBInstances"][0]
    assert db["Engine"] == "postgres"
    assert int(db["EngineVersion"].split(".")[0]) >= 12
    assert db["DBInstanceClass"] == "db.r5.xlarge"
    assert db["AllocatedStorage"] == 500
    assert db["StorageType"] == "gp3"
    assert db["MultiAZ"] is True
    assert db["BackupRetentionPeriod"] == 30
    assert db["PreferredBackupWindow"] == "03:00-04:00"
    assert db["PreferredMaintenanceWindow"] == "sun:04:00-sun:05:00"
    assert db["StorageEncrypted"] is True
    assert db["KmsKeyId"] == outputs["kms_key_arn"]
    assert db["PubliclyAccessible"] is False
    assert db["DBName"] == "ideation_db"
    # The master user is not the application's (ideation_user, created by postgres_bootstrap).
    assert db["MasterUsername"] == "ideation_admin"
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [
        sg_ids(moto_server, vpc_id)["database"]
    ]
    subnet_group = db["DBSubnetGroup"]
    assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == {
        outputs["subnets"]["database-us-east-1a"],
        outputs["subnets"]["database-us-east-1b"],
    }
    params = rds.describe_db_parameters(
        DBParameterGroupName=db["DBParameterGroups"][0]["DBParameterGroupName"]
    )["Parameters"]
    values = {p["ParameterName"]: p.get("ParameterValue") for p in params}
    assert values["log_min_duration_statement"] == "1000"
    assert values["rds.force_ssl"] == "1"
    assert outputs["database"]["address"] == db["Endpoint"]["Address"]


def test_read_replica_as_section_11_says(moto_server, vpc_id, outputs):
    """prod's read replica: of the primary, in the zone the primary is not in, encrypted with the
    platform key, with the primary's parameter group and security group; in the outputs; its lag
    alarmed no later than the API's fallback (30 s)."""
    rds = moto_server.client("rds")
    primary = rds.describe_db_instances(DBInstanceIdentifier=f"{PREFIX}-db")["DBInstances"][0]
    replica = rds.describe_db_instances(DBInstanceIdentifier=f"{PREFIX}-db-replica")[
        "DBInstances"][0]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == f"{PREFIX}-db"
    assert primary["ReadReplicaDBInstanceIdentifiers"] == [f"{PREFIX}-db-replica"]
    assert {replica["AvailabilityZone"], primary["AvailabilityZone"]} == {
        "us-east-1a", "us-east-1b"}
    assert replica["StorageEncrypted"] is True
    assert replica["KmsKeyId"] == outputs["kms_key_arn"]
    assert replica["DBParameterGroups"] == primary["DBParameterGroups"]
    assert replica["DBParameterGroups"][0]["DBParameterGroupName"] == f"{PREFIX}-db-postgres16"
    assert replica["PubliclyAccessible"] is False
    assert replica["MultiAZ"] is False
    assert replica["DeletionProtection"] is False
    assert replica["DBInstanceClass"] == "db.r5.xlarge"
    assert [g["VpcSecurityGroupId"] for g in replica["VpcSecurityGroups"]] == [
        sg_ids(moto_server, vpc_id)["database"]
    ]
    assert tags(replica, "TagList")["Name"] == f"{PREFIX}-db-replica"
    assert outputs["database"]["replica_address"] == replica["Endpoint"]["Address"]
    assert outputs["database"]["replica_address"] != outputs["database"]["address"]
    (alarm,) = moto_server.client("cloudwatch").describe_alarms(
        AlarmNames=[f"{PREFIX}-db-replica-lag-high"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/RDS", "ReplicaLag", "Maximum")
    assert alarm["Dimensions"] == [{"Name": "DBInstanceIdentifier",
                                    "Value": f"{PREFIX}-db-replica"}]
    assert (alarm["Threshold"], alarm["Period"], alarm["EvaluationPeriods"]) == (30.0, 60, 5)
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [outputs["alert_topic_arn"]]


def test_redis_as_section_6_says(moto_server, vpc_id, outputs):
    ec = moto_server.client("elasticache")
    group = ec.describe_replication_groups(ReplicationGroupId=f"{PREFIX}-redis")[
        "ReplicationGroups"
    ][0]
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    assert sorted(m["CurrentRole"] for m in members) == ["primary", "replica", "replica"]
    assert {m["PreferredAvailabilityZone"] for m in members} == {"us-east-1a", "us-east-1b"}
    assert group["AutomaticFailover"] == "enabled"
    assert group["MultiAZ"] == "enabled"
    assert group["TransitEncryptionEnabled"] is True
    # Clients must AUTH with the token of Secrets Manager (ideation/redis/auth_token).
    assert group["AuthTokenEnabled"] is True
    assert group["AtRestEncryptionEnabled"] is True
    assert group["KmsKeyId"] == outputs["kms_key_arn"]
    assert group["SnapshotRetentionLimit"] == 5
    assert group["SnapshotWindow"] == "03:00-04:00"
    assert group["CacheNodeType"] == "cache.r6g.xlarge"
    assert group["ClusterEnabled"] is False
    assert (
        outputs["redis"]["primary_address"] == group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    )
    subnet_group = ec.describe_cache_subnet_groups(CacheSubnetGroupName=f"{PREFIX}-redis")[
        "CacheSubnetGroups"
    ][0]
    assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == {
        outputs["subnets"]["private-us-east-1a"],
        outputs["subnets"]["private-us-east-1b"],
    }


# -- compute, scaling, addresses --------------------------------------------------------------


def test_auto_scaling_groups_and_launch_templates(moto_server, outputs, bakes, provisioned):
    asg = moto_server.client("autoscaling")
    ec2 = moto_server.client("ec2")
    groups = {
        g["AutoScalingGroupName"]: g
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    }
    assert set(groups) == {f"{PREFIX}-{r}" for r in ROLES}
    for role, (low, high) in SIZES.items():
        group = groups[f"{PREFIX}-{role}"]
        assert (group["MinSize"], group["MaxSize"]) == (low, high), role
        assert len(group["Instances"]) == low, role
        group_tags = {t["Key"]: t for t in group["Tags"]}
        assert group_tags["Role"]["Value"] == role
        assert group_tags["Environment"]["Value"] == "prod"
        assert group_tags["Role"]["PropagateAtLaunch"] is True
        template = ec2.describe_launch_template_versions(
            LaunchTemplateName=f"{PREFIX}-{role}", Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert template["MetadataOptions"]["HttpTokens"] == "required"
        profile = template["IamInstanceProfile"]
        assert profile.get("Name", profile.get("Arn", "").rsplit("/", 1)[-1]) == f"{PREFIX}-{role}"
        assert template["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        assert template["BlockDeviceMappings"][0]["Ebs"]["VolumeType"] == "gp3"
        assert template["SecurityGroupIds"] == [outputs["security_groups"][role]]
        # Boot converge (docs/boot.md): user data that runs boot.py with the environment's
        # release settings, a launching hook the instance completes and a terminating one.
        user_data = yaml.safe_load(gzip.decompress(base64.b64decode(template["UserData"])))
        files = {f["path"]: f["content"] for f in user_data["write_files"]}
        assert files["/usr/local/lib/ideation/boot.py"] == BOOT_SCRIPT.read_text()
        assert json.loads(files["/etc/ideation/boot.json"]) == {
            "environment": "prod",
            "name_prefix": PREFIX,
            "endpoint_url": None,
            "release_parameter": "/ideation/prod/release/current",
            "artifacts_bucket": f"{PREFIX}-artifacts",
        }
        hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=f"{PREFIX}-{role}")
        assert {
            h["LifecycleHookName"]: (h["LifecycleTransition"], h["DefaultResult"])
            for h in hooks["LifecycleHooks"]
        } == {
            "launching": ("autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON"),
            "terminating": ("autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE"),
        }, role
    # Launch templates use the newest bake of their role from the current base image; a role
    # without one (nginx's bake is of an older base) uses the base image, with a warning.
    assert _template(ec2, "api")["ImageId"] == bakes["api"]
    for role in ("nginx", "celery", "monitoring", "bastion"):
        assert _template(ec2, role)["ImageId"] == bakes["base"], role
    (warning,) = [line for line in provisioned.stdout.splitlines() if "WARNING: no bake of" in line]
    assert "nginx" in warning and "bastion" in warning and "api" not in warning, warning
    assert _template(ec2, "nginx")["InstanceType"] == "t3.medium"
    assert _template(ec2, "api")["InstanceType"] == "t3.large"
    assert _template(ec2, "api")["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 30
    assert _template(ec2, "nginx")["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 20
    instances = [
        i
        for r in ec2.describe_instances(Filters=[{"Name": "tag:Environment", "Values": ["prod"]}])[
            "Reservations"
        ]
        for i in r["Instances"]
    ]
    assert sorted(tags(i)["Role"] for i in instances) == sorted(
        role for role, (low, _) in SIZES.items() for _ in range(low)
    )


def _template(ec2: Any, role: str) -> dict[str, Any]:
    return ec2.describe_launch_template_versions(
        LaunchTemplateName=f"{PREFIX}-{role}", Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def test_scaling_policies_and_alarms_of_section_14(moto_server):
    cw = moto_server.client("cloudwatch")
    asg = moto_server.client("autoscaling")
    policies = {p["PolicyName"]: p for p in asg.describe_policies()["ScalingPolicies"]}
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    for role in ("nginx", "api"):
        out = alarms[f"{PREFIX}-{role}-cpu-out"]
        assert (out["MetricName"], out["Threshold"], out["ComparisonOperator"]) == (
            "CPUUtilization",
            70.0,
            "GreaterThanThreshold",
        )
        assert out["Period"] * out["EvaluationPeriods"] == 300
        assert out["AlarmActions"] == [policies[f"{PREFIX}-{role}-scale-out"]["PolicyARN"]]
        scale_in = alarms[f"{PREFIX}-{role}-cpu-in"]
        assert (scale_in["Threshold"], scale_in["ComparisonOperator"]) == (
            30.0,
            "LessThanThreshold",
        )
        assert scale_in["Period"] * scale_in["EvaluationPeriods"] == 600
        assert scale_in["AlarmActions"] == [policies[f"{PREFIX}-{role}-scale-in"]["PolicyARN"]]
        assert policies[f"{PREFIX}-{role}-scale-out"]["ScalingAdjustment"] == 1
        assert policies[f"{PREFIX}-{role}-scale-in"]["ScalingAdjustment"] == -1
    queue_out = alarms[f"{PREFIX}-celery-queue-out"]
    assert (queue_out["Threshold"], queue_out["ComparisonOperator"]) == (
        100.0,
        "GreaterThanThreshold",
    )
    assert queue_out["AlarmActions"] == [policies[f"{PREFIX}-celery-scale-out"]["PolicyARN"]]
    queue_in = alarms[f"{PREFIX}-celery-queue-in"]
    assert (queue_in["Threshold"], queue_in["ComparisonOperator"]) == (10.0, "LessThanThreshold")


def test_elastic_ips_sit_on_nginx_and_the_bastion(moto_server, outputs):
    ec2 = moto_server.client("ec2")
    addresses = {a["PublicIp"]: a for a in ec2.describe_addresses()["Addresses"]}
    roles = {}
    for name, ip in outputs["elastic_ips"].items():
        instance = ec2.describe_instances(InstanceIds=[addresses[ip]["InstanceId"]])
        roles[name] = tags(instance["Reservations"][0]["Instances"][0])["Role"]
    assert roles == {
        f"{PREFIX}-nginx-1": "nginx",
        f"{PREFIX}-nginx-2": "nginx",
        f"{PREFIX}-bastion-1": "bastion",
    }
    nginx_hosts = {
        addresses[outputs["elastic_ips"][f"{PREFIX}-nginx-{n}"]]["InstanceId"] for n in (1, 2)
    }
    assert len(nginx_hosts) == 2


# -- monitoring, DNS, certificate ---------------------------------------------------------------


def test_log_groups_and_alarms_of_section_9(moto_server, outputs):
    logs = moto_server.client("logs")
    groups = {
        g["logGroupName"]: g
        for g in logs.describe_log_groups(logGroupNamePrefix="/ideation/")["logGroups"]
    }
    assert set(groups) == {
        "/ideation/nginx/access",
        "/ideation/nginx/error",
        "/ideation/api/application",
        "/ideation/api/error",
        "/ideation/celery/worker",
        "/ideation/database/postgresql",
        "/ideation/redis/operations",
        "/ideation/bootstrap",
    }
    assert {g["retentionInDays"] for g in groups.values()} == {90}
    topic = outputs["alert_topic_arn"]
    assert topic.endswith(f":{PREFIX}-alerts")
    alarms = {
        a["AlarmName"]: a
        for a in moto_server.client("cloudwatch").describe_alarms()["MetricAlarms"]
    }
    for role in ROLES:
        memory = alarms[f"{PREFIX}-{role}-memory-high"]
        assert (memory["Namespace"], memory["MetricName"], memory["Threshold"]) == (
            "Ideation", "MemoryUsedPercent", 80.0)
        group = {"Name": "AutoScalingGroupName", "Value": f"{PREFIX}-{role}"}
        assert memory["Dimensions"] == [group]
        assert memory["Period"] * memory["EvaluationPeriods"] == 300
        assert memory["AlarmActions"] == [topic]
    errors = alarms[f"{PREFIX}-api-error-rate-high"]
    assert (errors["Threshold"], errors["Period"] * errors["EvaluationPeriods"]) == (5.0, 300)
    assert errors["TreatMissingData"] == "breaching"  # no nginx up publishes no rate: an outage
    connections = alarms[f"{PREFIX}-db-connections-high"]
    # 90 % of the 500 server connections of 20 PgBouncers (api + celery at max_size 10 + 10) x
    # (pool 20 + reserve 5), not of max_connections 600 (540: more than the fleet can open).
    assert connections["Threshold"] == 450.0
    assert "90 % of the 500 server connections" in connections["AlarmDescription"]
    assert connections["Period"] * connections["EvaluationPeriods"] == 120
    for node in ("001", "002", "003"):
        redis = alarms[f"{PREFIX}-redis-{node}-memory-high"]
        assert (redis["MetricName"], redis["Threshold"]) == ("DatabaseMemoryUsagePercentage", 85.0)
        assert redis["AlarmActions"] == [topic]
    for status, threshold in (("4xx", 0.1), ("5xx", 0.01)):
        s3 = alarms[f"{PREFIX}-ideation-documents-prod-{status}-rate-high"]
        assert (s3["Namespace"], s3["MetricName"], s3["Statistic"]) == (
            "AWS/S3", f"{status}Errors", "Average")
        assert s3["Dimensions"] == [
            {"Name": "BucketName", "Value": "ideation-documents-prod"},
            {"Name": "FilterId", "Value": "EntireBucket"},
        ]
        assert (s3["Threshold"], s3["Period"] * s3["EvaluationPeriods"]) == (threshold, 300)
        assert s3["TreatMissingData"] == "notBreaching"
        assert s3["AlarmActions"] == s3["OKActions"] == [topic]
    assert all(topic in alarms[n]["AlarmActions"] for n in alarms if "memory" in n or "high" in n)


def test_the_alert_topic_reaches_its_subscriber(moto_server, outputs):
    """The subscriber every test run passes (conftest.ALERT_EMAIL): prod requires one."""
    sns = moto_server.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=outputs["alert_topic_arn"])
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [
        ("email", "ops@example.com")
    ]


COMPARE = {
    "GreaterThanThreshold": float.__gt__,
    "GreaterThanOrEqualToThreshold": float.__ge__,
    "LessThanThreshold": float.__lt__,
    "LessThanOrEqualToThreshold": float.__le__,
}


def alarm_state(cloudwatch: Any, alarm: dict[str, Any], values: list[float | None],
                end: datetime.datetime) -> str:
    """Put one datum per period (None: none) ending at ``end``, read them back through the
    alarm's statistic, and evaluate the alarm as CloudWatch does (moto does not evaluate
    alarms): ALARM when every period of the evaluation breaches, a missing one as
    TreatMissingData says."""
    period = datetime.timedelta(seconds=alarm["Period"])
    assert len(values) == alarm["EvaluationPeriods"]
    start = end - period * len(values)
    data = [{"MetricName": alarm["MetricName"], "Dimensions": alarm["Dimensions"], "Value": value,
             "Timestamp": start + period * (number + 0.5)}
            for number, value in enumerate(values) if value is not None]  # fmt: skip
    if data:
        cloudwatch.put_metric_data(Namespace=alarm["Namespace"], MetricData=data)
    points = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"], MetricName=alarm["MetricName"],
        Dimensions=alarm["Dimensions"], StartTime=start, EndTime=end, Period=alarm["Period"],
        Statistics=[alarm["Statistic"]])["Datapoints"]  # fmt: skip
    assert len(points) == len(data), points
    treat = alarm.get("TreatMissingData", "missing")
    if not points and treat == "missing":
        return "INSUFFICIENT_DATA"
    compare = COMPARE[alarm["ComparisonOperator"]]
    slots = [compare(float(p[alarm["Statistic"]]), float(alarm["Threshold"])) for p in points]
    slots += [treat == "breaching"] * (len(values) - len(points))
    return "ALARM" if all(slots) else "OK"


def test_the_connection_and_error_rate_alarms_cross_their_thresholds(moto_server):
    """Each scenario in its own past hour, so their data never mix."""
    cloudwatch = moto_server.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    connections = alarms[f"{PREFIX}-db-connections-high"]
    errors = alarms[f"{PREFIX}-api-error-rate-high"]
    hour = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    at = lambda hours: hour - datetime.timedelta(hours=hours)  # noqa: E731 - local shorthand
    # Every PgBouncer of the fleet at full pool: 500 RDS connections for 2 minutes.
    assert alarm_state(cloudwatch, connections, [500, 500], at(1)) == "ALARM"
    assert alarm_state(cloudwatch, connections, [451, 499], at(2)) == "ALARM"
    assert alarm_state(cloudwatch, connections, [450, 450], at(3)) == "OK"
    assert alarm_state(cloudwatch, connections, [500, 300], at(4)) == "OK"
    # nginx answers 6 % with 5xx for 5 minutes; 5 % does not; no data at all (no nginx up, the
    # publisher sends nothing) is an outage; quiet nights publish 0.
    assert alarm_state(cloudwatch, errors, [6.0] * 5, at(5)) == "ALARM"
    assert alarm_state(cloudwatch, errors, [5.0] * 5, at(6)) == "OK"
    assert alarm_state(cloudwatch, errors, [None] * 5, at(7)) == "ALARM"
    assert alarm_state(cloudwatch, errors, [0.0] * 5, at(8)) == "OK"


def test_the_document_bucket_error_rate_alarms_cross_their_thresholds(moto_server):
    """S3's 4xxErrors and 5xxErrors count each request 1 or 0: their Average is the share."""
    cloudwatch = moto_server.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    four = alarms[f"{PREFIX}-ideation-documents-prod-4xx-rate-high"]
    five = alarms[f"{PREFIX}-ideation-documents-prod-5xx-rate-high"]
    hour = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    at = lambda hours: hour - datetime.timedelta(hours=hours)  # noqa: E731 - local shorthand
    # A fifth of the requests refused (403/404) for 5 minutes; a tenth is the threshold itself.
    assert alarm_state(cloudwatch, four, [0.2] * 5, at(11)) == "ALARM"
    assert alarm_state(cloudwatch, four, [0.1] * 5, at(12)) == "OK"
    # A minute without requests publishes nothing: a quiet spell is not an incident.
    assert alarm_state(cloudwatch, four, [0.5, 0.5, None, 0.5, 0.5], at(13)) == "OK"
    assert alarm_state(cloudwatch, five, [0.02] * 5, at(14)) == "ALARM"
    assert alarm_state(cloudwatch, five, [0.005] * 5, at(15)) == "OK"
    assert alarm_state(cloudwatch, five, [None] * 5, at(16)) == "OK"


def zone_records(r53: Any, zone: str) -> dict[tuple[str, str], list[str]]:
    return {
        (r["Name"], r["Type"]): sorted(v["Value"] for v in r.get("ResourceRecords", []))
        for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    }


def test_dns_records_and_health_check_of_section_8(moto_server, outputs):
    r53 = moto_server.client("route53")
    zone = outputs["hosted_zone_id"]
    assert r53.get_hosted_zone(Id=zone)["HostedZone"]["Config"]["PrivateZone"] is False
    records = zone_records(r53, zone)
    nginx_ips = sorted(outputs["elastic_ips"][f"{PREFIX}-nginx-{n}"] for n in (1, 2))
    assert records[(f"{DOMAIN}.", "A")] == nginx_ips
    assert records[(f"api.{DOMAIN}.", "A")] == nginx_ips
    checks = r53.list_health_checks()["HealthChecks"]
    assert len(checks) == 1
    config = checks[0]["HealthCheckConfig"]
    assert (config["Type"], config["FullyQualifiedDomainName"], config["ResourcePath"]) == (
        "HTTPS",
        DOMAIN,
        "/health",
    )
    assert (config["Port"], config["RequestInterval"], config["FailureThreshold"]) == (443, 30, 3)
    alarm = moto_server.client("cloudwatch").describe_alarms(AlarmNames=[f"{PREFIX}-site-health"])[
        "MetricAlarms"
    ][0]
    assert alarm["Dimensions"] == [{"Name": "HealthCheckId", "Value": checks[0]["Id"]}]
    assert alarm["AlarmActions"] == [outputs["alert_topic_arn"]]


def test_the_data_stores_are_named_in_the_vpc_only(moto_server, outputs, vpc_id):
    """Public DNS does not say where the database and cache are: their names live in a private
    zone of the same domain, answered only inside the VPC."""
    r53 = moto_server.client("route53")
    public = zone_records(r53, outputs["hosted_zone_id"])
    assert [name for name, _ in public if name.startswith(("db.", "cache."))] == []
    private = r53.get_hosted_zone(Id=outputs["private_hosted_zone_id"])
    assert private["HostedZone"]["Name"] == f"{DOMAIN}."
    assert private["HostedZone"]["Config"]["PrivateZone"] is True
    assert private["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": vpc_id}]
    records = zone_records(r53, outputs["private_hosted_zone_id"])
    assert records[(f"db.{DOMAIN}.", "CNAME")] == [outputs["database"]["address"]]
    assert records[(f"cache.{DOMAIN}.", "CNAME")] == [outputs["redis"]["primary_address"]]
    assert records[(f"db-ro.{DOMAIN}.", "CNAME")] == [outputs["database"]["replica_address"]]
    assert not {(f"{DOMAIN}.", "A"), (f"api.{DOMAIN}.", "A")} & set(records)


def test_certificate_validated_through_dns(moto_server, outputs):
    acm = moto_server.client("acm")
    cert = acm.describe_certificate(CertificateArn=outputs["certificate_arn"])["Certificate"]
    assert cert["DomainName"] == DOMAIN
    assert sorted(cert["SubjectAlternativeNames"]) == [f"*.{DOMAIN}", DOMAIN]
    options = cert["DomainValidationOptions"]
    assert {o["ValidationMethod"] for o in options} == {"DNS"}
    record = options[0]["ResourceRecord"]
    sets = moto_server.client("route53").list_resource_record_sets(
        HostedZoneId=outputs["hosted_zone_id"]
    )["ResourceRecordSets"]
    assert any(
        s["Name"] == record["Name"]
        and s["Type"] == "CNAME"
        and s["ResourceRecords"][0]["Value"] == record["Value"]
        for s in sets
    )


# -- convergence and inventory ------------------------------------------------------------------


def test_second_run_changes_nothing(provisioned, ansible):
    run = ansible.playbook("provision.yml", "prod")
    assert run.returncode == 0, run.tail()
    assert run.changed == 0, run.changed_tasks()


def test_second_run_keeps_the_deployed_release(provisioned, moto_server):
    parameter = moto_server.client("ssm").get_parameter(Name="/ideation/prod/release/current")
    assert parameter["Parameter"]["Value"] == DEPLOYED


def test_check_mode_on_the_provisioned_account_is_quiet(provisioned, ansible, moto_server):
    moto_server.start_recording()
    run = ansible.playbook("provision.yml", "prod", "--check")
    actions = moto_server.stop_recording()
    assert run.returncode == 0, run.tail()
    assert moto_server.writes(actions) == []
    # amazon.aws.autoscaling_group always says it would modify a group under --check.
    assert set(run.changed_tasks()) <= {
        "Ensure each role's auto-scaling group runs between its minimum and maximum size"
    }, run.changed_tasks()


def test_inventory_groups_the_instances_by_role(provisioned, ansible, moto_server, outputs):
    inventory = ansible.inventory("prod", "--flush-cache")
    for role, (low, _) in SIZES.items():
        hosts = inventory[role]["hosts"]
        assert len(hosts) == low, role
        assert all(h.startswith(f"{role}-i-") for h in hosts)
    hostvars = inventory["_meta"]["hostvars"]
    (bastion,) = inventory["bastion"]["hosts"]
    assert hostvars[bastion]["ansible_host"] == outputs["elastic_ips"][f"{PREFIX}-bastion-1"]
    api = inventory["api"]["hosts"][0]
    assert hostvars[api]["ansible_host"] == hostvars[api]["private_ip_address"]
    assert hostvars[api]["ansible_host"].startswith("10.0.")
    assert set(inventory["all"]["children"]) >= set(ROLES)


def test_private_hosts_jump_through_the_bastion(provisioned, ansible, outputs):
    run = ansible.run(
        "ansible",
        "-i",
        "inventories/prod",
        "api:bastion",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "var=ansible_ssh_common_args",
    )
    assert run.returncode == 0, run.tail()
    bastion_ip = outputs["elastic_ips"][f"{PREFIX}-bastion-1"]
    lines = [line for line in run.stdout.splitlines() if "ProxyJump" in line]
    assert len(lines) == 2  # both API hosts, not the bastion itself
    assert all(f"-o ProxyJump=admin@{bastion_ip}" in line for line in lines)


def test_inventory_cache_answers_without_calling_aws(provisioned, ansible, moto_server):
    ansible.inventory("prod", "--flush-cache")
    moto_server.start_recording()
    cached = ansible.inventory("prod")
    actions = moto_server.stop_recording()
    assert "DescribeInstances" not in actions
    assert len(cached["api"]["hosts"]) == 2


# -- what site.yml's roles get from this inventory (site_vars.py) ----------------------------


@pytest.fixture(scope="module")
def site_project(provisioned, outputs, tmp_path_factory):
    """The operator's checkout after this provisioning: its outputs, a key, a CA bundle, an
    image archive (site_vars.SiteProject)."""
    project = site_vars.SiteProject(tmp_path_factory.mktemp("site"), "prod", outputs)
    project.supply_operator_files()
    return project


def test_site_variables_fit_the_roles_and_the_provisioned_account(site_project, ansible,
                                                                  moto_server):
    sm = moto_server.client("secretsmanager")
    db_password = sm.get_secret_value(SecretId="ideation/db/password")["SecretString"]
    master = sm.get_secret_value(SecretId="ideation/db/master_password")["SecretString"]
    site_secrets = site_vars.create_site_secrets(moto_server, "ideation/")
    # api and celery ASG maximums 10 + 10; max_connections 600 (aws.yml).
    site_vars.check_site_variables(site_project, ansible, moto_server, db_password=db_password,
                                   db_master_password=master,
                                   site_secrets=site_secrets, max_connections=600, fleet=20)


def test_pgbouncer_preflight_refuses_the_former_max_connections(site_project, ansible):
    site_vars.check_undersized_database(site_project, ansible, 400, (
        "PgBouncer pools do not fit the server: 20 hosts x 25 server connections each (pool + "
        "reserve on the primary: ideation_db 20 + 5) = 500, but max_connections 400 - headroom "
        "10 leaves 390."))


# -- state in AWS: the outputs in SSM, read from a checkout that has nothing else ------------


def test_outputs_are_published_to_ssm_with_room_to_grow(moto_server, outputs):
    """One String parameter in the Standard tier (4,096 characters), holding what the local
    cache holds; a quarter of it stays free so that growth fails this test, not a prod run."""
    ssm = moto_server.client("ssm")
    parameter = ssm.get_parameter(Name=OUTPUTS_PARAMETER)["Parameter"]
    assert parameter["Type"] == "String"
    assert json.loads(parameter["Value"]) == outputs
    (described,) = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [OUTPUTS_PARAMETER]}])["Parameters"]
    assert described["Tier"] == "Standard"
    size = len(parameter["Value"])
    print(f"prod outputs in SSM: {size} characters of JSON")
    assert size <= 3072, f"{size} characters: move to Advanced or split (docs/provisioning.md)"


@pytest.fixture(scope="module")
def clean_checkout(tmp_path_factory) -> Path:
    """The project as a fresh clone (or an AWX job's checkout) has it: the repository's files
    and nothing else, so no .cache (no outputs), no .dev, no build/."""
    root = tmp_path_factory.mktemp("clean-checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=site_vars.REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = site_vars.REPO / name
        if name.split("/")[0] in (".venv", ".cache") or not os.path.lexists(source):
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    assert not (root / ".cache").exists()
    return root


def test_a_clean_checkout_resolves_site_variables_from_ssm(provisioned, outputs, moto_server,
                                                           clean_checkout, tmp_path):
    """The round trip of issue 22: provisioned from one checkout (the fixture's), site.yml's
    variables resolved in another that holds no state, with only AWS credentials and the
    endpoint. The values are the account's, and no cache was read or written."""
    env = {**moto_server.env(), "ANSIBLE_INVENTORY_CACHE_CONNECTION": str(tmp_path / "inventory"),
           "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts")}
    values, run = site_vars.template_vars(
        clean_checkout, Path("inventories/prod"), "localhost",
        {"db": "platform_database_address", "redis": "platform_redis_address",
         "documents": "api_s3_bucket", "artifacts": "platform_outputs.artifacts_bucket",
         "kms": "platform_outputs.kms_key_arn", "topic": "alertmanager_sns_topic_arn",
         "pgbouncer": "pgbouncer_server_host"},
        env, "-e", json.dumps({"aws_endpoint_url": moto_server.url}))
    account = site_vars.account_endpoints(moto_server, "prod")
    key = moto_server.client("kms").describe_key(KeyId=f"alias/{PREFIX}")["KeyMetadata"]["Arn"]
    assert values == {"db": account["database"], "redis": account["redis"],
                      "documents": "ideation-documents-prod", "artifacts": f"{PREFIX}-artifacts",
                      "kms": key, "topic": account["topic"], "pgbouncer": account["database"]
                      }, run.tail()
    assert values["db"] == outputs["database"]["address"]
    assert "read from the local cache" not in run.stdout + run.stderr
    assert not (clean_checkout / ".cache" / "outputs").exists()


def test_teardown_removes_production_when_confirmed(provisioned, ansible, moto_server, outputs):
    run = ansible.playbook("teardown.yml", "prod", "-e", "teardown_confirm=prod")
    assert run.returncode == 0, run.tail(150)
    ec2 = moto_server.client("ec2")
    assert (
        ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-vpc"]}])["Vpcs"] == []
    )
    assert ec2.describe_addresses()["Addresses"] == []
    assert (
        moto_server.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    )
    assert moto_server.client("rds").describe_db_instances()["DBInstances"] == []
    snapshots = moto_server.client("rds").describe_db_snapshots()["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"].startswith(f"{PREFIX}-db-final-") for s in snapshots] == [
        True
    ]
    assert (
        moto_server.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []
    )
    assert moto_server.client("route53").list_hosted_zones()["HostedZones"] == []
    assert moto_server.client("acm").list_certificates()["CertificateSummaryList"] == []
    assert moto_server.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    secrets = moto_server.client("secretsmanager").list_secrets()["SecretList"]
    assert all("DeletedDate" in s for s in secrets if s["Name"] in SECRETS)
    # Production keeps its documents, their access logs (the kept bucket still logs there) and
    # the key the final snapshot needs.
    s3 = moto_server.client("s3")
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == [
        "ideation-documents-prod", ACCESS_LOGS
    ]
    logging = s3.get_bucket_logging(Bucket="ideation-documents-prod")["LoggingEnabled"]
    assert logging["TargetBucket"] == ACCESS_LOGS
    # The release pointer and the published outputs.
    assert moto_server.client("ssm").describe_parameters()["Parameters"] == []
    assert not (ansible.outputs / "prod.json").exists()
    again = ansible.playbook("teardown.yml", "prod", "-e", "teardown_confirm=prod")
    assert again.returncode == 0, again.tail()
    assert again.changed == 0, again.changed_tasks()
