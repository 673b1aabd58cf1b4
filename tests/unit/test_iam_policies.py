"""The instance role's policies as provisioning renders them, for every environment: secrets
of the environment's own prefix, region and account only; metrics into the platform's
namespace only."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("prod", "staging", "dev")
TEMPLATES = ROOT / "playbooks" / "provision" / "templates"
ACCOUNT = "111122223333"


def _render(env: str, template: str) -> dict[str, Any]:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    loader = DataLoader()
    main = ROOT / "inventories" / env / "group_vars" / "all" / "main.yml"
    variables = dict(loader.load_from_file(str(main), trusted_as_template=True))
    variables["_aws_kms_arn"] = f"arn:aws:kms:{variables['aws_region']}:{ACCOUNT}:key/k"
    templar = Templar(loader=loader, variables=variables)
    text = templar.template(trust_as_template((TEMPLATES / template).read_text()))
    document = json.loads(text)
    document["_vars"] = {
        "aws_region": variables["aws_region"],
        "prefix": variables["platform_secret_prefix"],
        "namespace": variables["platform_metrics_namespace"],
        "secrets": list(templar.template(variables["platform_secrets"]).values()),
    }
    return document


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in document["Statement"] if s.get("Sid") == sid)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_of_the_environments_own_prefix_region_and_account(env: str) -> None:
    document = _render(env, "instance-app-policy.json.j2")
    region, prefix = document["_vars"]["aws_region"], document["_vars"]["prefix"]
    resource = _statement(document, "Secrets")["Resource"]
    assert resource == f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{prefix}*"
    for name in document["_vars"]["secrets"]:  # real ARNs end in -<6 random characters>
        assert fnmatch.fnmatchcase(
            f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-AbC123", resource
        )
    name = document["_vars"]["secrets"][0]
    for other in (
        f"arn:aws:secretsmanager:{region}:444455556666:secret:{name}-AbC123",
        f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:{name}-AbC123",
        f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:other/{name}-AbC123",
    ):
        assert not fnmatch.fnmatchcase(other, resource), other


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_metrics_only_into_the_platforms_namespace(env: str) -> None:
    document = _render(env, "instance-observability-policy.json.j2")
    publish = _statement(document, "PublishMetrics")
    assert publish["Action"] == ["cloudwatch:PutMetricData"]
    assert publish["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": document["_vars"]["namespace"]}
    }
