"""Standby windows: can an auto-scaling group put a batch of its instances in Standby, and at
what minimum size, for patch.yml (docs/runbooks/patch.md, "Groups at their minimum").

Entering Standby with the desired capacity decremented is refused by AWS below the group's
minimum, and every production group starts at desired = min. The runbook therefore lowers the
minimum for the window, to desired - batch, and puts it back when every instance is in service
again. The original minimum is kept in a tag on the group (WINDOW_TAG) before the minimum is
lowered, so that a run that dies half-way leaves the value to return to in AWS, not in a lost
process: the next run finds the tag and restores from it.

Pure functions on the dictionaries amazon.aws.autoscaling_group_info returns (snake_case keys).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WINDOW_TAG = "ideation:standby-window-min-size"
IN_SERVICE = "InService"
STANDBY = "Standby"
_SERIAL = re.compile(r"^([1-9][0-9]*)(%?)$")


@dataclass(frozen=True)
class Window:
    """What a group needs for its batch: `window_min` is the minimum to set for the window (None:
    the group can spare the batch as it is); `restore_min` the minimum to put back after it."""

    tier: str
    group: str
    batch: int
    desired: int
    min_size: int
    restore_min: int
    window_min: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "group": self.group,
            "batch": self.batch,
            "desired": self.desired,
            "min_size": self.min_size,
            "restore_min": self.restore_min,
            "window_min": self.window_min,
        }


def batch_size(serial: int | str, count: int) -> int:
    """Hosts per batch as Ansible's `serial` takes them: a number, or a percentage of the tier
    rounded down and at least one; never more than the tier has (0 for an empty tier)."""
    match = _SERIAL.match(str(serial).strip())
    if match is None:
        raise ValueError(
            f"a batch size is a positive number or percentage, not {str(serial)[:20]!r}"
        )
    if count <= 0:
        return 0
    value = int(match.group(1))
    size = max(1, math.floor(count * value / 100)) if match.group(2) else value
    return min(size, count)


def batch_sizes(
    serials: Mapping[str, int | str], counts: Mapping[str, int | Sequence[str]]
) -> dict[str, int]:
    """batch_size for each tier of `serials`; `counts` gives each tier's host count, or its hosts
    (an inventory's `groups`); a tier it lacks has none."""

    def count(tier: str) -> int:
        value = counts.get(tier, 0)
        return (
            len(value) if isinstance(value, Sequence) and not isinstance(value, str) else int(value)
        )

    return {tier: batch_size(serial, count(tier)) for tier, serial in serials.items()}


def _tags(group: Mapping[str, Any]) -> dict[str, str]:
    tags = group.get("tags") or []
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t.get("key", t.get("Key"))): str(t.get("value", t.get("Value"))) for t in tags}


def original_min(group: Mapping[str, Any]) -> int:
    """The minimum the group had before a window: the tag's value if a window is open."""
    tagged = _tags(group).get(WINDOW_TAG)
    if tagged is not None:
        if not tagged.isdigit():
            raise ValueError(
                f"{group['auto_scaling_group_name']}: tag {WINDOW_TAG} must be the group's "
                f"original minimum size, a number, not {tagged[:20]!r}"
            )
        return int(tagged)
    return int(group["min_size"])


def standby_windows(
    found: Mapping[str, Sequence[Mapping[str, Any]]],
    names: Mapping[str, str],
    batches: Mapping[str, int],
) -> tuple[list[Window], list[str]]:
    """The window of each tier's group for a batch of `batches[tier]`, and the problems that
    stop the run before it touches anything.

    `found[tier]` is what autoscaling_group_info returned for the name `names[tier]` (exactly one
    group, or it is a problem). Problems: a group not found; an instance not InService (someone
    else is at work, or an earlier run left a host out); a batch that would leave the group
    with no desired capacity while its maximum is 0.
    """
    windows: list[Window] = []
    problems: list[str] = []
    for tier, batch in batches.items():
        if batch <= 0:
            continue
        groups = list(found.get(tier) or [])
        name = names.get(tier, "?")
        if len(groups) != 1:
            problems.append(f"auto-scaling group {name} of the {tier} hosts not found")
            continue
        group = groups[0]
        name = group["auto_scaling_group_name"]
        busy = sorted(
            f"{i['instance_id']} ({i.get('lifecycle_state')})"
            for i in group.get("instances") or []
            if i.get("lifecycle_state") != IN_SERVICE
        )
        if busy:
            problems.append(f"{name}: instances not InService: {', '.join(busy)}")
            continue
        desired, min_size = int(group["desired_capacity"]), int(group["min_size"])
        try:
            restore = original_min(group)
        except ValueError as error:
            problems.append(str(error))
            continue
        if batch > desired:
            problems.append(
                f"{name}: a batch of {batch} is more than its desired capacity {desired}"
            )
            continue
        lowest = desired - batch
        window_min = lowest if lowest < min_size else None
        windows.append(Window(tier, name, batch, desired, min_size, restore, window_min))
    return windows, problems


def restore_size(group: Mapping[str, Any]) -> tuple[int | None, str]:
    """Whether the group's minimum can go back now: (the minimum to set, or None; why).

    Only a group with an open window (its tag) is restored, and only when no instance is in
    Standby: AWS raises the desired capacity to a new minimum above it, which would launch a
    replacement for a host an operator is still looking at. The caller removes the tag once the
    minimum is back.
    """
    name = group["auto_scaling_group_name"]
    if WINDOW_TAG not in _tags(group):
        return None, f"{name}: no standby window open"
    original = original_min(group)
    waiting = sorted(
        i["instance_id"]
        for i in group.get("instances") or []
        if i.get("lifecycle_state") == STANDBY
    )
    if waiting:
        return None, (
            f"{name}: keeps its minimum at {group['min_size']} (was {original}) while "
            f"{', '.join(waiting)} {'is' if len(waiting) == 1 else 'are'} in Standby; the next "
            "patch.yml run puts it back once every instance is in service"
        )
    return original, f"{name}: minimum back to {original}"
