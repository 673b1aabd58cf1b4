"""Jinja filter ideation.platform.instance_policies: each tier's instance role policy."""

from __future__ import annotations

DOCUMENTATION = r"""
name: instance_policies
author: ideation platform team
version_added: "0.1.0"
short_description: The least-privilege policy document of each tier's instance role
description:
  - Renders, for each named tier (nginx, api, celery, monitoring, bastion), the policy of its
    instance role from the table in plugin_utils/instance_policies.py (what each tier needs and
    why), filled in with the environment's facts.
  - Every tier may read the release pointer and the provisioning outputs parameter, get
    releases from the artifacts bucket, decrypt with the platform key only through S3, SSM and
    Secrets Manager, write its boot log, describe EC2 instances, and complete the lifecycle
    actions of its own auto-scaling group only. Beyond that, each tier gets only what its
    services use (docs/provisioning.md, "Identity").
positional: tiers
options:
  _input:
    description:
      - The environment's facts. Required keys are C(kms_key_arn) (its partition and account
        scope every ARN), C(region), C(prefix), C(release_parameter), C(outputs_parameter),
        C(artifacts_bucket), C(documents_bucket), C(metrics_namespace), C(alert_topic) and
        C(domain); optional are C(hosted_zone_id) (required for nginx), C(secrets) (key to
        secret name), C(groups) (tier to auto-scaling group name, default C(<prefix>-<tier>))
        and C(bootstrap_log_group).
    type: dict
    required: true
  tiers:
    description: The tiers to render.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Ensure each tier's role carries its policy
  amazon.aws.iam_policy:
    iam_type: role
    iam_name: "{{ platform_name_prefix }}-{{ item.key }}"
    policy_name: ideation-instance
    policy_json: "{{ item.value | to_json }}"
  loop: "{{ facts | ideation.platform.instance_policies(['nginx', 'api']) | dict2items }}"
"""

RETURN = r"""
_value:
  description: Tier name to IAM policy document.
  type: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.instance_policies import (
    tier_policies,
)


def instance_policies(facts: Any, tiers: Any) -> dict[str, dict[str, Any]]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        if isinstance(tiers, str) or not isinstance(tiers, (list, tuple)):
            raise ValueError("tiers must be a list of tier names")
        return tier_policies([str(t) for t in tiers], dict(facts))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.instance_policies: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"instance_policies": instance_policies}
