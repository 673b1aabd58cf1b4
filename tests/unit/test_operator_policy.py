"""docs/operator-policy.json: what scripts/operator-policy derives, usable as a managed policy."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LOADER = importlib.machinery.SourceFileLoader("operator_policy",
                                               str(ROOT / "scripts/operator-policy"))
_SPEC = importlib.util.spec_from_loader("operator_policy", _LOADER)
operator_policy = importlib.util.module_from_spec(_SPEC)
_LOADER.exec_module(operator_policy)

POLICY = json.loads((ROOT / "docs/operator-policy.json").read_text())


def _actions(policy: dict) -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        action = statement["Action"]
        found |= {action} if isinstance(action, str) else set(action)
    return found


def test_s3_operations_map_to_their_iam_actions() -> None:
    assert operator_policy.iam_action("s3:HeadBucket") == "s3:ListBucket"
    assert operator_policy.iam_action("s3:PutBucketLifecycleConfiguration") == (
        "s3:PutLifecycleConfiguration")
    assert operator_policy.iam_action("ec2:CreateVpc") == "ec2:CreateVpc"
    assert operator_policy.iam_action("sts:GetCallerIdentity") is None


def test_reads_collapse_and_changes_are_listed() -> None:
    policy = operator_policy.policy({"ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:CreateVpc",
                                     "s3:GetBucketCors", "sts:GetCallerIdentity"})
    reads, changes = policy["Statement"][0]["Action"], policy["Statement"][1]["Action"]
    assert reads == ["ec2:Describe*", "s3:Get*"]
    assert changes == ["ec2:CreateVpc"]


def test_committed_policy_is_well_formed() -> None:
    assert POLICY["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in POLICY["Statement"]]
    assert len(sids) == len(set(sids))
    assert all(s["Effect"] == "Allow" for s in POLICY["Statement"])
    assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+\*?", a) for a in _actions(POLICY))


def test_committed_policy_covers_what_provisioning_and_the_runbooks_change() -> None:
    """A sample of the calls each layer makes (the full list comes from a recorded run)."""
    actions = _actions(POLICY)
    for action in ("ec2:CreateVpc", "ec2:AuthorizeSecurityGroupIngress", "rds:CreateDBInstance",
                   "elasticache:CreateReplicationGroup", "autoscaling:CreateAutoScalingGroup",
                   "iam:CreateRole", "kms:CreateKey", "s3:CreateBucket", "route53:CreateHostedZone",
                   "acm:RequestCertificate", "secretsmanager:CreateSecret", "sns:CreateTopic",
                   "logs:CreateLogGroup", "cloudwatch:PutMetricAlarm", "ec2:RunInstances",
                   "iam:PassRole", "autoscaling:EnterStandby", "secretsmanager:UpdateSecret",
                   "rds:RestoreDBInstanceToPointInTime", "ec2:DeleteVpc", "rds:DeleteDBInstance"):
        assert action in actions, action


def test_committed_policy_fits_a_managed_policy() -> None:
    # IAM counts a managed policy's characters without whitespace; the limit is 6,144.
    text = (ROOT / "docs/operator-policy.json").read_text()
    assert len(re.sub(r"\s", "", text)) <= 6144
