"""Jinja filter ideation.platform.replica_lag_alarm: the read replica's lag alarm."""

from __future__ import annotations

DOCUMENTATION = r"""
name: replica_lag_alarm
author: ideation platform team
version_added: "0.1.0"
short_description: Size the read replica's ReplicaLag alarm against the application's limit
description:
  - "The alarm on RDS C(ReplicaLag) (seconds): its threshold O(_input), over O(minutes) one-minute
    periods."
  - Fails when the threshold is above O(read_max_lag), the lag past which the application reads
    from the primary instead, since the alarm must fire no later than the fallback.
positional: minutes, read_max_lag
options:
  _input:
    description: The threshold in seconds (C(aws_rds_replica.lag_alarm_seconds)).
    type: int
    required: true
  minutes:
    description: One-minute periods above the threshold before it alarms.
    type: int
    required: true
  read_max_lag:
    description: The application's fallback limit in seconds (C(platform_db_read_max_lag)).
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Size the replica lag alarm
  ansible.builtin.set_fact:
    _alarm: "{{ 30 | ideation.platform.replica_lag_alarm(5, 30) }}"
# {threshold: 30, evaluation_periods: 5, period: 60}
"""

RETURN = r"""
_value:
  description: The alarm's numbers.
  type: dict
  contains:
    threshold: {description: Seconds of lag (GreaterThanThreshold)., type: int}
    evaluation_periods: {description: Periods above it before it alarms., type: int}
    period: {description: Seconds per period., type: int}
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    replica_lag_alarm as _replica_lag_alarm,
)


def replica_lag_alarm(lag_seconds: Any, minutes: Any, read_max_lag: Any) -> dict[str, int]:
    """Wrapper: validation errors become AnsibleFilterError naming the filter."""
    try:
        return _replica_lag_alarm(lag_seconds, minutes, read_max_lag)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"ideation.platform.replica_lag_alarm: {exc}") from None


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"replica_lag_alarm": replica_lag_alarm}
