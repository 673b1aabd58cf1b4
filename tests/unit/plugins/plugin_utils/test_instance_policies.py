"""instance_policies: the facts it refuses, the table's consistency, and the filter wrapper.
What each tier may do is stated per environment in tests/unit/test_iam_policies.py."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.instance_policies import (
    instance_policies,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.iam_eval import allows
from ansible_collections.ideation.platform.plugins.plugin_utils.instance_policies import (
    GRANTS,
    TIER_LOG_GROUPS,
    TIER_SECRETS,
    TIERS,
    tier_policies,
    tier_policy,
)
from hypothesis import given
from hypothesis import strategies as st

DROP = object()  # a fact left out
FACTS: dict[str, Any] = {
    "kms_key_arn": "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab",
    "region": "us-gov-west-1",
    "prefix": "ideation-prod",
    "release_parameter": "/ideation/prod/release/current",
    "outputs_parameter": "/ideation/prod/outputs",
    "artifacts_bucket": "ideation-prod-artifacts",
    "documents_bucket": "ideation-documents-prod",
    "metrics_namespace": "Ideation",
    "alert_topic": "ideation-prod-alerts",
    "domain": "Ideation.Example.com.",
    "hosted_zone_id": "/hostedzone/Z0123456789",
    "secrets": {"db_password": "ideation/db/password"},
}


def test_every_grant_named_by_a_tier_exists_and_explains_itself() -> None:
    assert set(TIERS) == set(TIER_SECRETS) == set(TIER_LOG_GROUPS)
    for tier, grants in TIERS.items():
        assert set(grants) <= set(GRANTS), tier
    for sid, grant in GRANTS.items():
        assert len(grant.why) > 40, sid
        assert grant.actions, sid


def test_partition_and_account_come_from_the_key_and_the_domain_is_normalized() -> None:
    policy = tier_policy("nginx", FACTS)
    resources = [
        r
        for s in policy["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    ]
    arns = [r for r in resources if r != "*"]
    assert arns and all(r.startswith("arn:aws-us-gov:") for r in arns)
    challenge = next(s for s in policy["Statement"] if s["Sid"] == "AcmeChallenge")
    assert challenge["Resource"] == "arn:aws-us-gov:route53:::hostedzone/Z0123456789"
    names = challenge["Condition"]["ForAllValues:StringLike"]
    assert names["route53:ChangeResourceRecordSetsNormalizedRecordNames"][0] == (
        "_acme-challenge.ideation.example.com"
    )


def test_a_secret_the_environment_does_not_name_is_not_granted() -> None:
    policy = tier_policy("monitoring", FACTS)  # grafana's secrets are not in FACTS
    assert "ReadSecrets" not in {s["Sid"] for s in policy["Statement"]}
    api = tier_policy("api", FACTS)
    secrets = next(s for s in api["Statement"] if s["Sid"] == "ReadSecrets")
    assert secrets["Resource"] == (
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:ideation/db/password-??????"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"region": DROP}, "facts lack region"),
        ({"kms_key_arn": "arn:aws:kms:us-east-1:1111:key/x"}, "is not a KMS key ARN"),
        ({"region": "eu-west-1"}, "is in us-gov-west-1, not in region eu-west-1"),
        ({"documents_bucket": "*"}, "facts.documents_bucket must be a name"),
        ({"secrets": {"db_password": "ideation/*"}}, "facts.secrets.db_password must be a name"),
        ({"secrets": {"db_password": "${aws:username}"}}, "must be a name"),
        ({"hosted_zone_id": "zone one"}, "is not a Route 53 zone id"),
        ({"hosted_zone_id": ""}, "the nginx tier changes records in the platform's zone"),
        ({"domain": "-bad-.example.com"}, "facts.domain is not a DNS name"),
        ({"secrets": ["ideation/db/password"]}, "facts.secrets must be a mapping"),
    ],
)
def test_bad_facts_are_refused_with_what_is_wrong(change: dict[str, Any], message: str) -> None:
    facts = {key: value for key, value in {**FACTS, **change}.items() if value is not DROP}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("$", r"\$")):
        tier_policies(list(TIERS), facts)


def test_an_unknown_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tier 'web'; tiers: nginx, api"):
        tier_policy("web", FACTS)


@given(
    st.text(alphabet="ab/*?$[]{}", min_size=1, max_size=12).filter(
        lambda s: any(c in s for c in "*?${}[]")
    )
)
def test_no_wildcard_or_policy_variable_reaches_an_arn(name: str) -> None:
    with pytest.raises(ValueError):
        tier_policy("api", {**FACTS, "secrets": {"db_password": name}})


def test_the_filter_names_itself_in_its_errors() -> None:
    assert set(instance_policies(FACTS, ["api", "bastion"])) == {"api", "bastion"}
    with pytest.raises(
        AnsibleFilterError, match=r"^ideation.platform.instance_policies: unknown tier"
    ):
        instance_policies(FACTS, ["web"])
    with pytest.raises(AnsibleFilterError, match="tiers must be a list"):
        instance_policies(FACTS, "api")


# -- the evaluator the behaviour tests rely on ------------------------------------------------

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::b/releases/*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/releases/secret"},
        {
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": "*",
            "Condition": {"ForAllValues:StringLike": {"names": ["_acme-challenge.*"]}},
        },
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "k?y",
            "Condition": {"StringEquals": {"kms:ViaService": ["s3.x", "ssm.x"]}},
        },
    ],
}


def test_evaluator_wildcards_deny_and_conditions() -> None:
    assert allows(POLICY, "S3:GETOBJECT", "arn:aws:s3:::b/releases/r1")  # actions ignore case
    assert not allows(POLICY, "s3:GetObject", "arn:aws:s3:::B/releases/r1")  # resources do not
    assert not allows(POLICY, "s3:GetObject", "arn:aws:s3:::b/releases/secret")  # Deny wins
    assert not allows(POLICY, "s3:PutObject", "arn:aws:s3:::b/releases/r1")
    assert allows(POLICY, "kms:Decrypt", "key", {"kms:ViaService": "ssm.x"})
    assert not allows(POLICY, "kms:Decrypt", "keey", {"kms:ViaService": "ssm.x"})
    assert not allows(POLICY, "kms:Decrypt", "key", {"kms:ViaService": "ec2.x"})
    assert not allows(POLICY, "kms:Decrypt", "key")
    assert allows(POLICY, "route53:ChangeResourceRecordSets", "z", {"names": ["_acme-challenge.a"]})
    assert not allows(
        POLICY, "route53:ChangeResourceRecordSets", "z", {"names": ["_acme-challenge.a", "www"]}
    )
    # IAM's rule: ForAllValues holds when the request has no value for the key.
    assert allows(POLICY, "route53:ChangeResourceRecordSets", "z")


def test_evaluator_refuses_what_it_does_not_understand() -> None:
    for statement, message in (
        ({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, "not supported"),
        (
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            },
            "IpAddress is not supported",
        ),
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:${aws:username}"}, "policy variables"),
    ):
        with pytest.raises(ValueError, match=message):
            allows({"Statement": [statement]}, "s3:GetObject", "arn:x")
