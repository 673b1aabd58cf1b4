"""s3_bucket_logging against moto's mock_aws (with the fidelity patches: a log bucket without
ACLs takes log delivery through its policy only)."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible_collections.ideation.platform.plugins.modules import s3_bucket_logging as module
from module_runner import run_module

SOURCE = "ideation-documents-test"
LOGS = "ideation-test-access-logs"


def _policy(prefix: str) -> str:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{LOGS}", f"arn:aws:s3:::{LOGS}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}  # fmt: skip
    allow = {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": [f"arn:aws:s3:::{LOGS}/{prefix}*"],
             "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{SOURCE}"}}}  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": [deny, allow]})


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=SOURCE)
    client.create_bucket(Bucket=LOGS)
    client.put_bucket_ownership_controls(
        Bucket=LOGS, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    client.put_bucket_policy(Bucket=LOGS, Policy=_policy(f"{SOURCE}/"))
    return client


ON = {"name": SOURCE, "target_bucket": LOGS, "target_prefix": f"{SOURCE}/"}


def test_check_mode_says_what_would_change_and_changes_nothing(s3, capsys):
    result = run_module(module, ON, capsys, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {
        "before": {"logging_enabled": {}},
        "after": {"logging_enabled": {"target_bucket": LOGS, "target_prefix": f"{SOURCE}/"}},
    }
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=SOURCE)


def test_turns_logging_on_through_the_policy_then_is_idempotent(s3, capsys):
    first = run_module(module, ON, capsys)
    assert first["changed"] is True, first
    enabled = s3.get_bucket_logging(Bucket=SOURCE)["LoggingEnabled"]
    assert (enabled["TargetBucket"], enabled["TargetPrefix"]) == (LOGS, f"{SOURCE}/")
    # No ACL was needed (the bucket refuses grants) and none was added.
    grants = s3.get_bucket_acl(Bucket=LOGS)["Grants"]
    assert [g["Grantee"]["Type"] for g in grants] == ["CanonicalUser"]
    assert run_module(module, ON, capsys)["changed"] is False
    assert run_module(module, ON, capsys, check_mode=True)["changed"] is False


def test_a_new_prefix_changes_and_off_turns_it_off(s3, capsys):
    run_module(module, ON, capsys)
    s3.put_bucket_policy(Bucket=LOGS, Policy=_policy(""))  # the whole bucket
    moved = run_module(module, {**ON, "target_prefix": "documents/"}, capsys)
    assert moved["changed"] is True
    assert s3.get_bucket_logging(Bucket=SOURCE)["LoggingEnabled"]["TargetPrefix"] == "documents/"
    off = {"name": SOURCE, "state": "absent"}
    assert run_module(module, off, capsys)["changed"] is True
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=SOURCE)
    assert run_module(module, off, capsys)["changed"] is False


def test_a_log_bucket_whose_policy_does_not_admit_the_prefix_fails_clearly(s3, capsys):
    result = run_module(module, {**ON, "target_prefix": "elsewhere/"}, capsys)
    assert result["failed"] is True
    assert "policy must allow logging.s3.amazonaws.com s3:PutObject on elsewhere/*" in result["msg"]
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=SOURCE)


def test_a_missing_bucket_and_a_missing_target_fail_with_their_names(s3, capsys):
    missing = run_module(module, {**ON, "name": "no-such-bucket"}, capsys)
    assert missing["failed"] is True and missing["msg"] == "Bucket no-such-bucket does not exist"
    untargeted = run_module(module, {"name": SOURCE}, capsys)
    assert untargeted["failed"] is True and "target_bucket" in untargeted["msg"]
