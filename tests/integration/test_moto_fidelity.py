"""The fidelity patches of moto_server.py answer as AWS does where the playbooks depend on it
(in-process moto, no server)."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto_server import apply_fidelity_patches

REGION = "us-east-1"


def test_a_rule_description_update_answers_return_true() -> None:
    """ec2_security_group reads Return when only a rule's description changed."""
    apply_fidelity_patches()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
        rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "old"}]}
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])
        rule["IpRanges"][0]["Description"] = "new"
        answer = ec2.update_security_group_rule_descriptions_ingress(GroupId=group,
                                                                     IpPermissions=[rule])
        assert answer["Return"] is True
        egress = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                  "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "old"}]}
        ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[egress])
        egress["IpRanges"][0]["Description"] = "new"
        answer = ec2.update_security_group_rule_descriptions_egress(GroupId=group,
                                                                    IpPermissions=[egress])
        assert answer["Return"] is True
        ranges = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0][
            "IpPermissions"][0]["IpRanges"]
        assert ranges == [{"CidrIp": "10.0.0.0/8", "Description": "new"}]


def test_create_image_tags_the_image_and_its_snapshot() -> None:
    """amazon.aws.ec2_ami sends its tags for the image and for its snapshots; moto raised
    NotImplementedError (500) on the snapshot's."""
    apply_fidelity_patches()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        source = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]
        tags = [{"Key": "Role", "Value": "api"}]
        ami = ec2.create_image(
            InstanceId=instance["InstanceId"], Name="bake", NoReboot=True,
            TagSpecifications=[{"ResourceType": "image", "Tags": tags},
                               {"ResourceType": "snapshot", "Tags": tags}],
        )["ImageId"]  # fmt: skip
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        assert image["Tags"] == tags
        snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["Tags"] == tags
def test_a_read_replica_is_single_az_and_unprotected_unless_asked() -> None:
    """AWS: CreateDBInstanceReadReplica's MultiAZ and DeletionProtection default to false
    whatever the source's; the replica keeps the source's encryption and parameter group."""
    apply_fidelity_patches()
    with mock_aws():
        rds = boto3.client("rds", region_name=REGION)
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        rds.create_db_parameter_group(DBParameterGroupName="pg",
                                      DBParameterGroupFamily="postgres16", Description="pg")
        rds.create_db_instance(DBInstanceIdentifier="primary", Engine="postgres",
                               DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                               MasterUsername="admin", MasterUserPassword="not-a-secret-1",
                               StorageEncrypted=True, KmsKeyId=key, MultiAZ=True,
                               DeletionProtection=True, DBParameterGroupName="pg")
        single = rds.create_db_instance_read_replica(
            DBInstanceIdentifier="single", SourceDBInstanceIdentifier="primary",
            AvailabilityZone="us-east-1b")["DBInstance"]
        multi = rds.create_db_instance_read_replica(
            DBInstanceIdentifier="multi", SourceDBInstanceIdentifier="primary",
            MultiAZ=True)["DBInstance"]
        assert (single["MultiAZ"], multi["MultiAZ"]) == (False, True)
        assert single["DeletionProtection"] is False
        rds.delete_db_instance(DBInstanceIdentifier="single", SkipFinalSnapshot=True)
        protected = rds.create_db_instance_read_replica(
            DBInstanceIdentifier="protected", SourceDBInstanceIdentifier="primary",
            DeletionProtection=True)["DBInstance"]
        assert protected["DeletionProtection"] is True
        assert single["AvailabilityZone"] == "us-east-1b"
        assert (single["StorageEncrypted"], single["KmsKeyId"]) == (True, key)
        assert single["DBParameterGroups"][0]["DBParameterGroupName"] == "pg"
        primary = rds.describe_db_instances(DBInstanceIdentifier="primary")["DBInstances"][0]
        assert primary["MultiAZ"] is True
        assert primary["DeletionProtection"] is True
        assert sorted(primary["ReadReplicaDBInstanceIdentifiers"]) == ["multi", "protected"]


def test_moving_awscurrent_changes_the_value_a_plain_read_answers() -> None:
    """A staged rotation: the pending value is read only by its stage until AWSCURRENT moves to
    it; then a read without a stage answers it and AWSPREVIOUS the old one (as AWS documents)."""
    apply_fidelity_patches()
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name=REGION)
        old = sm.create_secret(Name="db", SecretString="old")["VersionId"]
        new = sm.put_secret_value(SecretId="db", SecretString="new",
                                  VersionStages=["AWSPENDING"])["VersionId"]
        assert sm.get_secret_value(SecretId="db")["SecretString"] == "old"
        assert sm.get_secret_value(SecretId="db", VersionStage="AWSPENDING")[
            "SecretString"] == "new"
        sm.update_secret_version_stage(SecretId="db", VersionStage="AWSCURRENT",
                                       MoveToVersionId=new, RemoveFromVersionId=old)
        assert sm.get_secret_value(SecretId="db")["SecretString"] == "new"
        assert sm.get_secret_value(SecretId="db")["VersionId"] == new
        assert sm.get_secret_value(SecretId="db", VersionStage="AWSPREVIOUS")[
            "SecretString"] == "old"
        assert sm.describe_secret(SecretId="db")["VersionIdsToStages"][new] == [
            "AWSPENDING", "AWSCURRENT"]


def test_an_asg_launches_from_launch_template_version_2_with_its_settings() -> None:
    """A version 2+ with user data crashed moto when a group launched from it; instances lacked
    the template's instance profile and metadata options. AWS applies the whole version."""
    apply_fidelity_patches()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        boto3.client("iam", region_name=REGION).create_instance_profile(
            InstanceProfileName="web-instance")
        data = {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro",
                "IamInstanceProfile": {"Name": "web-instance"},
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                                    "HttpEndpoint": "enabled", "InstanceMetadataTags": "enabled"},
                "UserData": base64.b64encode(b"#!/bin/sh\necho one\n").decode()}
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData=data)
        data["UserData"] = base64.b64encode(b"#!/bin/sh\necho two\n").decode()
        ec2.create_launch_template_version(LaunchTemplateName="web", LaunchTemplateData=data)
        boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
            AutoScalingGroupName="web", MinSize=1, MaxSize=1, AvailabilityZones=[f"{REGION}a"],
            LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"})
        instance = ec2.describe_instances()["Reservations"][0]["Instances"][0]
        assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/web-instance")
        options = instance["MetadataOptions"]
        assert (options["HttpTokens"], options["HttpPutResponseHopLimit"],
                options["InstanceMetadataTags"]) == ("required", 2, "enabled")
        user_data = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"],
                                                    Attribute="userData")["UserData"]["Value"]
        assert base64.b64decode(user_data) == b"#!/bin/sh\necho two\n"


# Auto-scaling lifecycle hooks, as AWS documents them (docs/provisioning.md).

LAUNCH_HOOK = {"LifecycleHookName": "launch",
               "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
               "HeartbeatTimeout": 300, "DefaultResult": "ABANDON"}
TERMINATE_HOOK = {"LifecycleHookName": "drain",
                  "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                  "HeartbeatTimeout": 300, "DefaultResult": "CONTINUE"}


class Clock:
    """Stands in for the patches' clock, so a test moves time instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += datetime.timedelta(seconds=seconds)


def _patches() -> dict[str, Any]:
    """The globals of the module whose patches moto runs (it may be loaded under two names)."""
    from moto.autoscaling.responses import AutoScalingResponse

    return AutoScalingResponse.call_action.__globals__


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    apply_fidelity_patches()
    fake = Clock()
    monkeypatch.setitem(_patches(), "_now", fake)
    return fake


@pytest.fixture
def aws(clock: Clock) -> Iterator[tuple[Any, Any]]:
    """(autoscaling, ec2) clients of a fresh moto account with a launch template "web"."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
        yield boto3.client("autoscaling", region_name=REGION), ec2


def _group(client: Any, desired: int, *hooks: dict[str, Any]) -> None:
    client.create_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=0, MaxSize=10, DesiredCapacity=desired,
        AvailabilityZones=[f"{REGION}a"], LaunchTemplate={"LaunchTemplateName": "web"},
        LifecycleHookSpecificationList=list(hooks))


def _states(client: Any) -> dict[str, str]:
    """Instance ID -> lifecycle state, from DescribeAutoScalingGroups (and the same from
    DescribeAutoScalingInstances)."""
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    instances = group["AutoScalingGroups"][0]["Instances"]
    states = {i["InstanceId"]: i["LifecycleState"] for i in instances}
    listed = client.describe_auto_scaling_instances()["AutoScalingInstances"]
    assert {i["InstanceId"]: i["LifecycleState"] for i in listed} == states
    return states


def _ec2_states(ec2: Any) -> dict[str, str]:
    return {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]}


def _only(states: dict[str, str], state: str) -> list[str]:
    return sorted(i for i, s in states.items() if s == state)


def _complete(client: Any, instance: str, result: str, hook: str = "launch") -> None:
    client.complete_lifecycle_action(AutoScalingGroupName="web", LifecycleHookName=hook,
                                     InstanceId=instance, LifecycleActionResult=result)


def test_a_group_without_hooks_scales_as_before(aws: tuple[Any, Any]) -> None:
    client, ec2 = aws
    _group(client, 2)
    assert list(_states(client).values()) == ["InService", "InService"]
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    assert list(_states(client).values()) == ["InService"] * 3
    first = next(iter(_states(client)))
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    assert len(_states(client)) == 1
    assert sorted(_ec2_states(ec2).values()) == ["running", "terminated", "terminated"]
    assert _ec2_states(ec2)[first] == "terminated"  # moto's order: the oldest goes first


def test_a_launching_hook_holds_new_instances_in_pending_wait(aws: tuple[Any, Any]) -> None:
    """CreateAutoScalingGroup, SetDesiredCapacity and UpdateAutoScalingGroup instances wait;
    waiting instances count toward the capacity (no extra launches); CONTINUE puts them in
    service, by instance ID or by token."""
    client, ec2 = aws
    _group(client, 1, LAUNCH_HOOK)
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    client.update_auto_scaling_group(AutoScalingGroupName="web", DesiredCapacity=3)
    client.describe_auto_scaling_groups()
    states = _states(client)
    assert list(states.values()) == ["Pending:Wait"] * 3
    assert list(_ec2_states(ec2).values()) == ["running"] * 3
    first, second, third = states
    _complete(client, first, "CONTINUE")
    client.record_lifecycle_action_heartbeat(AutoScalingGroupName="web", LifecycleHookName="launch",
                                             InstanceId=second)
    client.complete_lifecycle_action(AutoScalingGroupName="web", LifecycleHookName="launch",
                                     LifecycleActionToken=_token(second),
                                     LifecycleActionResult="CONTINUE")
    assert _states(client) == {first: "InService", second: "InService", third: "Pending:Wait"}
    assert len(_ec2_states(ec2)) == 3


def _token(instance: str, hook: str = "launch") -> str:
    """The token AWS would send in the hook's notification (moto sends none)."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    group = autoscaling_backends[DEFAULT_ACCOUNT_ID][REGION].autoscaling_groups["web"]
    state = next(s for s in group.instance_states if s.instance.id == instance)
    return _patches()["lifecycle_actions"](state)[hook].token


def test_abandon_terminates_the_launch_and_the_group_replaces_it(aws: tuple[Any, Any]) -> None:
    client, ec2 = aws
    _group(client, 1, LAUNCH_HOOK)
    [first] = _states(client)
    _complete(client, first, "ABANDON")
    states = _states(client)
    assert first not in states and list(states.values()) == ["Pending:Wait"]
    assert _ec2_states(ec2)[first] == "terminated"


def test_a_heartbeat_restarts_the_timeout_and_the_timeout_applies_the_default(
        aws: tuple[Any, Any], clock: Clock) -> None:
    client, _ = aws
    _group(client, 1, {**LAUNCH_HOOK, "HeartbeatTimeout": 60, "DefaultResult": "CONTINUE"})
    [instance] = _states(client)
    clock.advance(50)
    client.record_lifecycle_action_heartbeat(AutoScalingGroupName="web", LifecycleHookName="launch",
                                             InstanceId=instance)
    clock.advance(50)  # 100 s after the launch, 50 s after the heartbeat
    assert _states(client) == {instance: "Pending:Wait"}
    clock.advance(11)
    assert _states(client) == {instance: "InService"}


def test_a_timeout_with_default_abandon_terminates_and_replaces(
        aws: tuple[Any, Any], clock: Clock) -> None:
    client, ec2 = aws
    _group(client, 1, LAUNCH_HOOK)  # 300 s, ABANDON
    [instance] = _states(client)
    clock.advance(299)
    assert _states(client) == {instance: "Pending:Wait"}
    clock.advance(1)
    assert _ec2_states(ec2)[instance] == "terminated"  # an EC2 read applies the timeout too
    states = _states(client)
    assert instance not in states and list(states.values()) == ["Pending:Wait"]


def test_heartbeats_cannot_hold_an_instance_past_the_global_timeout(
        aws: tuple[Any, Any], clock: Clock) -> None:
    """48 h or 100 heartbeat timeouts, whichever is smaller: 100 x 30 s here."""
    client, _ = aws
    _group(client, 1, {**LAUNCH_HOOK, "HeartbeatTimeout": 30, "DefaultResult": "CONTINUE"})
    [instance] = _states(client)
    for _ in range(119):
        clock.advance(25)
        client.record_lifecycle_action_heartbeat(
            AutoScalingGroupName="web", LifecycleHookName="launch", InstanceId=instance)
    assert _states(client) == {instance: "Pending:Wait"}  # 2,975 s
    clock.advance(25)
    assert _states(client) == {instance: "InService"}


def test_standby_below_the_minimum_or_back_above_the_maximum_is_refused(
        aws: tuple[Any, Any]) -> None:
    """AWS refuses EnterStandby that would decrement the desired capacity below MinSize, and
    ExitStandby that would increment it above MaxSize; moto moved the instance either way."""
    client, _ = aws
    _group(client, 2)
    client.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=2, MaxSize=2)
    first, second = _states(client)
    with pytest.raises(ClientError, match=r"min-size=2, max-size=2, and desired-size=2\. To place"
                                          r" into standby 1 instances"):
        client.enter_standby(AutoScalingGroupName="web", InstanceIds=[first],
                             ShouldDecrementDesiredCapacity=True)
    assert _states(client) == {first: "InService", second: "InService"}
    client.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=1)
    client.enter_standby(AutoScalingGroupName="web", InstanceIds=[first],
                         ShouldDecrementDesiredCapacity=True)
    client.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=1)
    with pytest.raises(ClientError, match="To exit standby 1 instances"):
        client.exit_standby(AutoScalingGroupName="web", InstanceIds=[first])
    assert _states(client)[first] == "Standby"
    client.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=2)
    client.exit_standby(AutoScalingGroupName="web", InstanceIds=[first])
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    assert group[0]["DesiredCapacity"] == 2 and _states(client)[first] == "InService"


def test_a_terminating_hook_holds_the_leaving_instance(aws: tuple[Any, Any]) -> None:
    """Scale-in and TerminateInstanceInAutoScalingGroup: Terminating:Wait, still running in EC2,
    not counted; CONTINUE or ABANDON terminate it and it leaves the group."""
    client, ec2 = aws
    _group(client, 2, TERMINATE_HOOK)
    first, second = _states(client)
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    assert _states(client) == {first: "Terminating:Wait", second: "InService"}
    assert _ec2_states(ec2)[first] == "running"
    _complete(client, first, "CONTINUE", hook="drain")
    assert _states(client) == {second: "InService"}
    assert _ec2_states(ec2)[first] == "terminated"

    client.terminate_instance_in_auto_scaling_group(InstanceId=second,
                                                    ShouldDecrementDesiredCapacity=False)
    states = _states(client)
    assert states[second] == "Terminating:Wait" and _only(states, "InService") != []
    assert len(states) == 2  # the replacement launched while the instance drains
    _complete(client, second, "ABANDON", hook="drain")
    assert _ec2_states(ec2)[second] == "terminated" and second not in _states(client)


def test_an_unhealthy_instance_is_replaced(aws: tuple[Any, Any]) -> None:
    """Without hooks: terminated and replaced at once."""
    client, ec2 = aws
    _group(client, 1)
    [old] = _states(client)
    client.set_instance_health(InstanceId=old, HealthStatus="Unhealthy")
    states = _states(client)
    assert old not in states and list(states.values()) == ["InService"]
    assert _ec2_states(ec2)[old] == "terminated"


def test_an_unhealthy_instance_is_replaced_through_both_hooks(aws: tuple[Any, Any]) -> None:
    client, ec2 = aws
    _group(client, 1, LAUNCH_HOOK, TERMINATE_HOOK)
    [old] = _states(client)
    _complete(client, old, "CONTINUE")
    client.set_instance_health(InstanceId=old, HealthStatus="Unhealthy")
    states = _states(client)
    assert states.pop(old) == "Terminating:Wait" and list(states.values()) == ["Pending:Wait"]
    health = client.describe_auto_scaling_instances(InstanceIds=[old])["AutoScalingInstances"]
    assert health[0]["HealthStatus"].upper() == "UNHEALTHY"
    assert _ec2_states(ec2)[old] == "running"


def test_an_instance_terminated_in_ec2_is_replaced(aws: tuple[Any, Any]) -> None:
    """AWS's EC2 health check: a group instance terminated outside auto scaling is replaced,
    here through the launching hook."""
    client, ec2 = aws
    _group(client, 2, LAUNCH_HOOK)
    waiting, in_service = _states(client)
    _complete(client, in_service, "CONTINUE")
    ec2.terminate_instances(InstanceIds=[waiting, in_service])
    states = _states(client)
    assert waiting not in states and in_service not in states
    assert list(states.values()) == ["Pending:Wait", "Pending:Wait"]


def test_a_stopped_instance_is_replaced(aws: tuple[Any, Any]) -> None:
    client, ec2 = aws
    _group(client, 1)
    [old] = _states(client)
    ec2.stop_instances(InstanceIds=[old])
    states = _states(client)
    assert old not in states and list(states.values()) == ["InService"]


def test_standby_works_in_a_group_with_hooks(aws: tuple[Any, Any]) -> None:
    """The patch runbook's EnterStandby/ExitStandby: no launch while an instance is on standby
    with the capacity decremented, none on its return."""
    client, _ = aws
    _group(client, 2, LAUNCH_HOOK, TERMINATE_HOOK)
    first, second = _states(client)
    for instance in (first, second):
        _complete(client, instance, "CONTINUE")
    client.enter_standby(AutoScalingGroupName="web", InstanceIds=[first],
                         ShouldDecrementDesiredCapacity=True)
    assert _states(client) == {first: "Standby", second: "InService"}
    client.exit_standby(AutoScalingGroupName="web", InstanceIds=[first])
    assert _states(client) == {first: "InService", second: "InService"}
    group = client.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 2


@pytest.mark.parametrize("call", ["complete_lifecycle_action", "record_lifecycle_action_heartbeat"])
def test_lifecycle_actions_answer_aws_errors(aws: tuple[Any, Any], call: str) -> None:
    client, _ = aws
    _group(client, 1, LAUNCH_HOOK)
    [instance] = _states(client)
    extra = {"LifecycleActionResult": "CONTINUE"} if call == "complete_lifecycle_action" else {}
    wrong = [({"AutoScalingGroupName": "web", "LifecycleHookName": "launch",
               "InstanceId": "i-0123456789abcdef0"}, "instance ID i-0123456789abcdef0"),
             ({"AutoScalingGroupName": "web", "LifecycleHookName": "other",
               "InstanceId": instance}, f"instance ID {instance}"),
             ({"AutoScalingGroupName": "api", "LifecycleHookName": "launch",
               "InstanceId": instance}, f"instance ID {instance}"),
             ({"AutoScalingGroupName": "web", "LifecycleHookName": "launch",
               "LifecycleActionToken": "0f3c0f3e-8a1b-4c6e-9d4f-2b7a5e6c1d00"},
              "token 0f3c0f3e-8a1b-4c6e-9d4f-2b7a5e6c1d00")]
    for arguments, named in wrong:
        with pytest.raises(ClientError) as error:
            getattr(client, call)(**arguments, **extra)
        assert error.value.response["Error"]["Code"] == "ValidationError"
        assert error.value.response["Error"]["Message"] == (
            f"No active Lifecycle Action found with {named}")
    _complete(client, instance, "CONTINUE")
    with pytest.raises(ClientError, match="No active Lifecycle Action"):
        getattr(client, call)(AutoScalingGroupName="web", LifecycleHookName="launch",
                              InstanceId=instance, **extra)


def test_deleting_a_hook_or_the_group_ends_open_actions(aws: tuple[Any, Any]) -> None:
    """DeleteLifecycleHook completes open actions (ABANDON a launch); deleting the group
    terminates every instance, held or not, and its hooks go with it."""
    client, ec2 = aws
    _group(client, 2, TERMINATE_HOOK)
    first, _ = _states(client)
    client.put_lifecycle_hook(AutoScalingGroupName="web", LifecycleHookName="launch",
                              LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING")
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    [waiting] = _only(_states(client), "Pending:Wait")
    client.delete_lifecycle_hook(AutoScalingGroupName="web", LifecycleHookName="launch")
    states = _states(client)
    assert waiting not in states and list(states.values()) == ["InService"] * 3
    assert _ec2_states(ec2)[waiting] == "terminated"
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    assert _states(client)[first] == "Terminating:Wait"
    client.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
    assert set(_ec2_states(ec2).values()) == {"terminated"}
    assert client.describe_auto_scaling_instances()["AutoScalingInstances"] == []
    assert client.describe_lifecycle_hooks(AutoScalingGroupName="web")["LifecycleHooks"] == []


@mock_aws
def test_modify_replication_group_turns_auth_on_rotates_and_off() -> None:
    apply_fidelity_patches()
    ec = boto3.client("elasticache", region_name="us-east-1")
    ec.create_replication_group(ReplicationGroupId="auth", ReplicationGroupDescription="x",
                                CacheNodeType="cache.t3.micro", Engine="redis",
                                NumCacheClusters=1, TransitEncryptionEnabled=True)

    def enabled() -> bool:
        group = ec.describe_replication_groups(ReplicationGroupId="auth")["ReplicationGroups"][0]
        return group["AuthTokenEnabled"]

    assert enabled() is False
    for strategy in ("ROTATE", "SET"):
        ec.modify_replication_group(ReplicationGroupId="auth", AuthToken="a" * 32,
                                    AuthTokenUpdateStrategy=strategy, ApplyImmediately=True)
        assert enabled() is True, strategy
    ec.modify_replication_group(ReplicationGroupId="auth", AuthTokenUpdateStrategy="DELETE",
                                ApplyImmediately=True)
    assert enabled() is False


def _log_bucket_policy(log_bucket: str, sources: list[str]) -> str:
    """A log bucket's policy as AWS documents it: a TLS-only deny first, then one Allow for
    S3's logging service per source bucket (Resource lists, conditions on the source)."""
    import json

    deny = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{log_bucket}", f"arn:aws:s3:::{log_bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    allows = [{"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
               "Action": "s3:PutObject", "Resource": [f"arn:aws:s3:::{log_bucket}/{src}/*"],
               "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{src}"},
                             "StringEquals": {"aws:SourceAccount": "123456789012"}}}
              for src in sources]
    return json.dumps({"Version": "2012-10-17", "Statement": [deny, *allows]})


@mock_aws
def test_bucket_logging_is_granted_by_a_policy_as_aws_reads_it() -> None:
    """moto refused (or failed on) a log bucket policy with a TLS deny before the logging
    statement and Resource lists; AWS accepts it. A prefix the policy does not cover is still
    refused, and so is a bucket without any grant."""
    apply_fidelity_patches()
    s3 = boto3.client("s3", region_name=REGION)
    for name in ("docs-bucket", "logs-bucket", "bare-bucket"):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket="logs-bucket",
                         Policy=_log_bucket_policy("logs-bucket", ["docs-bucket"]))
    s3.put_bucket_logging(Bucket="docs-bucket", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "logs-bucket", "TargetPrefix": "docs-bucket/"}})
    enabled = s3.get_bucket_logging(Bucket="docs-bucket")["LoggingEnabled"]
    assert (enabled["TargetBucket"], enabled["TargetPrefix"]) == ("logs-bucket", "docs-bucket/")
    for target, prefix in (("logs-bucket", "other/"), ("bare-bucket", "docs-bucket/")):
        with pytest.raises(ClientError) as refused:
            s3.put_bucket_logging(Bucket="docs-bucket", BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": target, "TargetPrefix": prefix}})
        assert refused.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"


@mock_aws
def test_an_acl_grant_on_a_bucket_without_acls_is_refused() -> None:
    """With object ownership BucketOwnerEnforced, AWS refuses ACL grants to others (what
    community.aws.s3_logging adds for the log-delivery group); moto accepted them."""
    apply_fidelity_patches()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="enforced")
    s3.put_bucket_ownership_controls(Bucket="enforced", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    owner = s3.get_bucket_acl(Bucket="enforced")["Owner"]
    log_delivery = {"Grantee": {"Type": "Group",
                                "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"},
                    "Permission": "FULL_CONTROL"}
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_acl(Bucket="enforced", AccessControlPolicy={
            "Owner": owner, "Grants": [log_delivery]})
    assert refused.value.response["Error"]["Code"] == "AccessControlListNotSupported"
    s3.put_bucket_acl(Bucket="enforced", ACL="private")  # the owner alone: accepted
    s3.create_bucket(Bucket="with-acls")
    s3.put_bucket_acl(Bucket="with-acls", AccessControlPolicy={
        "Owner": owner, "Grants": [log_delivery]})


@mock_aws
def test_bucket_metrics_configurations_are_kept_listed_and_deleted() -> None:
    """moto dropped a Put, answered a Get with an empty configuration (community.aws
    s3_metrics_configuration then changed on every run) and deleted the bucket on a Delete."""
    apply_fidelity_patches()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="metered")
    with pytest.raises(ClientError) as unknown:
        s3.get_bucket_metrics_configuration(Bucket="metered", Id="EntireBucket")
    assert unknown.value.response["Error"]["Code"] == "NoSuchConfiguration"
    whole = {"Id": "EntireBucket"}
    tagged = {"Id": "Uploads", "Filter": {"And": {"Prefix": "up/", "Tags": [
        {"Key": "kind", "Value": "doc"}, {"Key": "tier", "Value": "hot"}]}}}
    s3.put_bucket_metrics_configuration(Bucket="metered", Id="EntireBucket",
                                        MetricsConfiguration=whole)
    s3.put_bucket_metrics_configuration(Bucket="metered", Id="Uploads",
                                        MetricsConfiguration=tagged)
    got = s3.get_bucket_metrics_configuration(Bucket="metered", Id="EntireBucket")
    assert got["MetricsConfiguration"] == whole
    got = s3.get_bucket_metrics_configuration(Bucket="metered", Id="Uploads")
    assert got["MetricsConfiguration"] == tagged
    listed = s3.list_bucket_metrics_configurations(Bucket="metered")
    assert listed["MetricsConfigurationList"] == [whole, tagged]
    s3.delete_bucket_metrics_configuration(Bucket="metered", Id="Uploads")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["metered"]
    listed = s3.list_bucket_metrics_configurations(Bucket="metered")
    assert listed["MetricsConfigurationList"] == [whole]
    with pytest.raises(ClientError) as gone:
        s3.delete_bucket_metrics_configuration(Bucket="metered", Id="Uploads")
    assert gone.value.response["Error"]["Code"] == "NoSuchConfiguration"
