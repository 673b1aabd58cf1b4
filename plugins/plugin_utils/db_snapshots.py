"""The pre-deploy database snapshots of playbooks/runbooks/deploy.yml: their names and which
of them are old enough to delete.

A snapshot is named after the instance, the release and the run, in the characters RDS allows;
pruning only ever picks manual snapshots of the instance that carry the pre-deploy tag, are
available, and are older than the retention, never one the caller keeps (the one just taken).
No Ansible import: the filter wrappers turn ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PURPOSE_TAG = "SnapshotPurpose"
PURPOSE = "pre-deploy"
_MAX_ID = 255  # RDS: 1-255 letters, digits and single hyphens, starting with a letter


def predeploy_snapshot_name(instance: str, release: str, run: str) -> str:
    """``<instance>-predeploy-<release>-<run>``, lowercased, every run of other characters a
    single hyphen (RDS refuses dots, underscores and double hyphens). The run id (a UTC time)
    is kept whole at the end, so two deploys of one release never collide."""
    parts = [_slug(instance, "instance"), "predeploy", _slug(release, "release"), _slug(run, "run")]
    if not parts[0][0].isalpha():
        raise ValueError(f"instance {instance!r} must start with a letter (RDS identifiers do)")
    room = _MAX_ID - len("-".join(parts[:2] + parts[3:])) - 1
    if room < 1:
        raise ValueError(f"instance {instance!r} and run {run!r} leave no room for the release")
    parts[2] = parts[2][:room].strip("-")
    return "-".join(parts)


def _slug(value: Any, what: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")
    if not slug:
        raise ValueError(f"the {what} {value!r} has no letter or digit to name a snapshot with")
    return slug


def _tags(snapshot: Mapping[str, Any]) -> dict[str, str]:
    """The snapshot's tags: rds_snapshot_info gives DescribeDBSnapshots' TagList as
    ``tag_list`` (pairs) and fills ``tags`` (a dict) only from a ``Tags`` key the API does not
    send; either is read."""
    pairs = snapshot.get("tag_list") or snapshot.get("TagList") or []
    found = {str(p.get("key", p.get("Key"))): str(p.get("value", p.get("Value"))) for p in pairs}
    tags = snapshot.get("tags")
    if isinstance(tags, Mapping):
        found.update({str(k): str(v) for k, v in tags.items()})
    return found


def _time(value: Any, what: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{what} {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def snapshots_to_prune(
    snapshots: Iterable[Mapping[str, Any]],
    instance: str,
    keep_days: Any,
    now: Any,
    keep: Sequence[str] = (),
) -> list[str]:
    """Identifiers of the pre-deploy snapshots of ``instance`` older than ``keep_days`` days
    at ``now``, oldest first. Anything else (automated or untagged snapshots, another
    instance's, one still being created, one named in ``keep``) is never listed."""
    if isinstance(keep_days, bool) or not isinstance(keep_days, (int, float, str)):
        raise ValueError(f"keep_days must be a number of days, got {keep_days!r}")
    try:
        days = float(keep_days)
    except ValueError:
        raise ValueError(f"keep_days must be a number of days, got {keep_days!r}") from None
    if math.isnan(days) or days < 0:
        raise ValueError(f"keep_days must be 0 or more, got {keep_days!r}")
    cutoff = _time(now, "now") - dt.timedelta(days=days)
    found = []
    for snapshot in snapshots:
        name = snapshot.get("db_snapshot_identifier", "")
        if (
            snapshot.get("db_instance_identifier") != instance
            or snapshot.get("snapshot_type", "manual") != "manual"
            or snapshot.get("status") != "available"
            or _tags(snapshot).get(PURPOSE_TAG) != PURPOSE
            or name in keep
        ):
            continue
        created = _time(snapshot.get("snapshot_create_time"), f"the creation time of {name}")
        if created < cutoff:
            found.append((created, name))
    return [name for _created, name in sorted(found)]
