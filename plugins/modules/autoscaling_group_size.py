#!/usr/bin/python
# Copyright: ideation platform team
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscaling_group_size
short_description: Change an existing auto-scaling group's minimum size and tags, nothing else
version_added: 0.1.0
description:
  - Sets the minimum size of an existing group and adds or removes tags on it, leaving every
    other setting as it is. For runbooks that open a window (patch.yml lowers the minimum while a
    batch is in Standby and records the original in a tag).
  - C(amazon.aws.autoscaling_group) cannot be used for that, since on an existing group it sets
    the settings it is not given to its own defaults (C(health_check_type=EC2),
    C(health_check_period=300)).
  - The calls are made in this order. Tags set first, then the minimum, then tags removed; so a
    window's tag is in AWS before the minimum is lowered and stays until it is back.
  - AWS raises the desired capacity to a new minimum above it (UpdateAutoScalingGroup).
author:
  - Ideation platform team (@ideation-platform)
options:
  name:
    description:
      - The group's name.
    type: str
    required: true
  min_size:
    description:
      - The minimum size to set; unchanged when omitted.
    type: int
  tags:
    description:
      - Tags to set on the group (not propagated to instances); others stay.
    type: dict
    default: {}
  remove_tags:
    description:
      - Keys of tags to remove from the group.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Lower the minimum for a Standby window, keeping the original in a tag
  ideation.platform.autoscaling_group_size:
    name: ideation-prod-api
    min_size: 1
    tags:
      "ideation:standby-window-min-size": "2"
"""

RETURN = r"""
min_size:
  description: The group's minimum size after the change (check mode, what it would be).
  returned: always
  type: int
desired_capacity:
  description: The group's desired capacity after the change.
  returned: always
  type: int
tags:
  description: The group's tags after the change, as a dict.
  returned: always
  type: dict
"""

import contextlib
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def plan(
    group: dict[str, Any], min_size: int | None, tags: dict[str, str], remove: list[str]
) -> dict[str, Any]:
    """The calls to make on a group (DescribeAutoScalingGroups' shape) to reach the wanted state."""
    current = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
    set_tags = {k: str(v) for k, v in tags.items() if current.get(k) != str(v)}
    drop = sorted(k for k in set(remove) - set(tags) if k in current)
    new_min = None if min_size is None or min_size == group["MinSize"] else min_size
    return {"tags": set_tags, "remove": drop, "min_size": new_min}


def after(group: dict[str, Any], calls: dict[str, Any]) -> dict[str, Any]:
    """The group's size and tags once the calls are made (for check mode and the diff)."""
    tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
    tags.update(calls["tags"])
    for key in calls["remove"]:
        tags.pop(key, None)
    min_size = group["MinSize"] if calls["min_size"] is None else calls["min_size"]
    desired = max(group["DesiredCapacity"], min_size)
    return {"min_size": min_size, "desired_capacity": desired, "tags": tags}


def describe(module: AnsibleAWSModule, client: Any) -> dict[str, Any]:
    name = module.params["name"]
    try:
        groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name], aws_retry=True)[
            "AutoScalingGroups"
        ]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe auto-scaling group {name}")
    if not groups:
        module.fail_json(msg=f"There is no auto-scaling group named {name}")
    return groups[0]


def apply(module: AnsibleAWSModule, client: Any, calls: dict[str, Any]) -> None:
    name = module.params["name"]
    try:
        if calls["tags"]:
            client.create_or_update_tags(
                Tags=[
                    {
                        "ResourceId": name,
                        "ResourceType": "auto-scaling-group",
                        "Key": k,
                        "Value": v,
                        "PropagateAtLaunch": False,
                    }
                    for k, v in sorted(calls["tags"].items())
                ],
                aws_retry=True,
            )
        if calls["min_size"] is not None:
            client.update_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=calls["min_size"], aws_retry=True
            )
        if calls["remove"]:
            client.delete_tags(
                Tags=[
                    {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k}
                    for k in calls["remove"]
                ],
                aws_retry=True,
            )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to change auto-scaling group {name}")


def main() -> None:
    argument_spec = dict(
        name=dict(type="str", required=True),
        min_size=dict(type="int"),
        tags=dict(type="dict", default={}),
        remove_tags=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params["min_size"] is not None and module.params["min_size"] < 0:
        module.fail_json(msg=f"min_size must be 0 or more, not {module.params['min_size']}")
    client = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    group = describe(module, client)
    calls = plan(
        group, module.params["min_size"], module.params["tags"], module.params["remove_tags"]
    )
    changed = bool(calls["tags"] or calls["remove"] or calls["min_size"] is not None)
    before = after(group, {"tags": {}, "remove": [], "min_size": None})
    result = after(group, calls)
    if changed and not module.check_mode:
        apply(module, client, calls)
        result = after(describe(module, client), {"tags": {}, "remove": [], "min_size": None})
    module.exit_json(changed=changed, diff={"before": before, "after": result}, **result)


if __name__ == "__main__":
    main()
