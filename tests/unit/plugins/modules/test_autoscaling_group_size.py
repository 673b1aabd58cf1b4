"""autoscaling_group_size: the minimum and the window tag, nothing else, against mock_aws."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.ideation.platform.plugins.modules import autoscaling_group_size as module
from module_runner import run_module

NAME = "ideation-prod-api"
TAG = "ideation:standby-window-min-size"


@pytest.fixture
def asg(aws):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.create_launch_template(LaunchTemplateName="api", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.small"})
    client = boto3.client("autoscaling", region_name="us-east-1")
    client.create_auto_scaling_group(
        AutoScalingGroupName=NAME, MinSize=2, MaxSize=4, DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"], LaunchTemplate={"LaunchTemplateName": "api"},
        HealthCheckType="ELB", HealthCheckGracePeriod=120,
        Tags=[{"Key": "Role", "Value": "api", "PropagateAtLaunch": True}])
    return client


def described(client):
    return client.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]


def tags(client):
    return {t["Key"]: t["Value"] for t in described(client)["Tags"]}


def test_opening_a_window_tags_first_and_touches_nothing_else(asg, capsys):
    args = {"name": NAME, "min_size": 1, "tags": {TAG: "2"}}
    checked = run_module(module, args, capsys, check_mode=True, diff=True)
    assert checked["changed"] and checked["min_size"] == 1
    assert checked["diff"]["before"]["min_size"] == 2 and described(asg)["MinSize"] == 2
    first = run_module(module, args, capsys)
    assert first["changed"] and first["tags"][TAG] == "2"
    group = described(asg)
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (1, 2, 4)
    assert (group["HealthCheckType"], group["HealthCheckGracePeriod"]) == ("ELB", 120)
    assert tags(asg) == {"Role": "api", TAG: "2"}
    assert not run_module(module, args, capsys)["changed"]


def test_closing_a_window_raises_the_minimum_and_removes_the_tag(asg, capsys):
    run_module(module, {"name": NAME, "min_size": 1, "tags": {TAG: "2"}}, capsys)
    closed = run_module(module, {"name": NAME, "min_size": 2, "remove_tags": [TAG]}, capsys)
    assert closed["changed"] and closed["tags"] == {"Role": "api"}
    assert described(asg)["MinSize"] == 2 and tags(asg) == {"Role": "api"}
    again = run_module(module, {"name": NAME, "min_size": 2, "remove_tags": [TAG]}, capsys)
    assert not again["changed"]


def test_a_missing_group_and_a_negative_minimum_fail_with_their_reason(asg, capsys):
    missing = run_module(module, {"name": "ideation-prod-nope", "min_size": 1}, capsys)
    assert missing["failed"] and missing["msg"] == (
        "There is no auto-scaling group named ideation-prod-nope")
    negative = run_module(module, {"name": NAME, "min_size": -1}, capsys)
    assert negative["failed"] and negative["msg"] == "min_size must be 0 or more, not -1"
