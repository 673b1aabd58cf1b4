"""Jinja filter ideation.platform.alert_subscriptions: the alert topic's subscribers."""

from __future__ import annotations

DOCUMENTATION = r"""
name: alert_subscriptions
author: ideation platform team
version_added: "0.1.0"
short_description: Build the alert topic's subscriptions, refusing an environment nobody hears
description:
  - Turns e-mail addresses and HTTPS endpoints into the C(subscriptions) list that
    M(community.aws.sns_topic) takes, e-mails first, in the order given.
  - Fails with a message naming the variable for a malformed address or URL (https only), a
    duplicate, or an environment of O(required_in) with no subscription at all, whose alarms
    would then notify nobody.
positional: https_endpoints, environment
options:
  _input:
    description: E-mail addresses (each must confirm the subscription e-mail SNS sends).
    type: list
    elements: str
    required: true
  https_endpoints:
    description: HTTPS URLs SNS posts the notifications to (a pager's or chat's webhook).
    type: list
    elements: str
    required: true
  environment:
    description: The environment being provisioned.
    type: str
    required: true
  required_in:
    description: Environments that must have at least one subscription.
    type: list
    elements: str
    default: [prod, staging]
"""

EXAMPLES = r"""
- name: Ensure the alert topic exists with its subscriptions
  community.aws.sns_topic:
    name: ideation-prod-alerts
    subscriptions: >-
      {{ aws_alert_emails | ideation.platform.alert_subscriptions(aws_alert_https_endpoints,
                                                                  'prod') }}
# With aws_alert_emails [ops@example.com] and aws_alert_https_endpoints
# [https://pager.example.com/sns]: [{protocol: email, endpoint: ops@example.com},
# {protocol: https, endpoint: https://pager.example.com/sns}]. With both empty: fails,
# "prod needs at least one alert subscription ...".
"""

RETURN = r"""
_value:
  description: The subscriptions, C({protocol, endpoint}) each.
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    ALERTED_ENVIRONMENTS,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    alert_subscriptions as _alert_subscriptions,
)


def alert_subscriptions(
    emails: Any, https_endpoints: Any, environment: Any, required_in: Any = ALERTED_ENVIRONMENTS
) -> list[dict[str, str]]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _alert_subscriptions(emails, https_endpoints, str(environment), list(required_in))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.alert_subscriptions: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"alert_subscriptions": alert_subscriptions}
