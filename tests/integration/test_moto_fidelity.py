"""The fidelity patches of moto_server.py answer as AWS does where the playbooks depend on it
(in-process moto, no server)."""

from __future__ import annotations

import boto3
from moto import mock_aws
from moto_server import apply_fidelity_patches


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
