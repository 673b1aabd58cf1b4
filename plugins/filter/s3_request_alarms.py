"""Jinja filter ideation.platform.s3_request_alarms: a bucket's 4xx and 5xx error-rate alarms."""

from __future__ import annotations

DOCUMENTATION = r"""
name: s3_request_alarms
author: ideation platform team
version_added: "0.1.0"
short_description: Define a bucket's 4xx and 5xx error-rate alarms on its S3 request metrics
description:
  - "One alarm per status class on C(AWS/S3) C(4xxErrors) and C(5xxErrors) (dimensions
    C(BucketName) and C(FilterId)), statistic C(Average): the share of requests answered with
    that status each minute, as AWS documents these metrics."
  - Each alarms when the share is above its percent in every one of C(s3_errors_minutes)
    minutes; a minute without requests has no datum and does not breach.
  - The bucket needs the metrics configuration O(filter_id) (request metrics) for the metrics
    to exist.
positional: name_prefix, thresholds
options:
  _input:
    description: The bucket's name.
    type: str
    required: true
  name_prefix:
    description: The alarms' name prefix (C(platform_name_prefix)).
    type: str
    required: true
  thresholds:
    description:
      - C(aws_alarms), with C(s3_4xx_percent) and C(s3_5xx_percent) (above 0 and below 100)
        and C(s3_errors_minutes) (at least 1).
    type: dict
    required: true
  filter_id:
    description: The Id of the bucket's metrics configuration.
    type: str
    default: EntireBucket
"""

EXAMPLES = r"""
- name: Ensure the document bucket alarms on unusual error rates
  amazon.aws.cloudwatch_metric_alarm:
    name: "{{ item.name }}"
    description: "{{ item.description }}"
    namespace: "{{ item.namespace }}"
    metric_name: "{{ item.metric_name }}"
    dimensions: "{{ item.dimensions }}"
    statistic: "{{ item.statistic }}"
    comparison: "{{ item.comparison }}"
    threshold: "{{ item.threshold }}"
    period: "{{ item.period }}"
    evaluation_periods: "{{ item.evaluation_periods }}"
    treat_missing_data: "{{ item.treat_missing_data }}"
  loop: >-
    {{ platform_documents_bucket
       | ideation.platform.s3_request_alarms(platform_name_prefix, aws_alarms) }}
# aws_alarms {s3_4xx_percent: 10, s3_5xx_percent: 1, s3_errors_minutes: 5}: thresholds 0.1 and
# 0.01 on 4xxErrors and 5xxErrors (Average), 5 periods of 60 s.
"""

RETURN = r"""
_value:
  description: The alarms, 4xx first, each in amazon.aws.cloudwatch_metric_alarm's options.
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    S3_METRICS_FILTER_ID,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    s3_request_alarms as _s3_request_alarms,
)


def s3_request_alarms(
    bucket: Any, name_prefix: Any, thresholds: Any, filter_id: Any = S3_METRICS_FILTER_ID
) -> list[dict[str, Any]]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _s3_request_alarms(bucket, str(name_prefix), thresholds, filter_id)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.s3_request_alarms: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"s3_request_alarms": s3_request_alarms}
