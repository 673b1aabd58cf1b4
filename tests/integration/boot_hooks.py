"""The lifecycle hooks provisioning puts on every group with boot converge (compute.yml,
docs/boot.md), made directly with boto3 for tests that build their group by hand."""

from __future__ import annotations

from typing import Any

# (name, transition, default result), as playbooks/provision/compute.yml makes them.
BOOT_HOOKS = (
    ("launching", "LAUNCHING", "ABANDON"),
    ("terminating", "TERMINATING", "CONTINUE"),
)


def put_boot_hooks(autoscaling: Any, group: str, timeout: int = 900) -> None:
    for name, transition, result in BOOT_HOOKS:
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName=name,
            HeartbeatTimeout=timeout,
            LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transition}",
            DefaultResult=result,
        )


def delete_boot_hooks(autoscaling: Any, group: str) -> None:
    for name, _transition, _result in BOOT_HOOKS:
        autoscaling.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName=name)
