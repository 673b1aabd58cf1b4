"""The pre-deploy snapshots' names and their pruning (plugin_utils/db_snapshots.py); the
runbook's tasks against moto: tests/integration/test_deploy_snapshot.py."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.db_snapshots import (
    predeploy_snapshot_name,
    snapshots_to_prune,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
RDS_ID = re.compile(r"[a-z](-?[a-z0-9])*")


def test_the_name_carries_instance_release_and_run() -> None:
    assert predeploy_snapshot_name("ideation-prod-db", "1.4.2", "20261206T113000Z") == (
        "ideation-prod-db-predeploy-1-4-2-20261206t113000z"
    )
    assert predeploy_snapshot_name("db", "_rc--1_", "x") == "db-predeploy-rc-1-x"


@given(st.text(min_size=1, max_size=300).filter(lambda t: re.search(r"[A-Za-z0-9]", t)))
def test_any_release_gives_an_identifier_rds_accepts(release: str) -> None:
    name = predeploy_snapshot_name("ideation-prod-db", release, "20261206T113000Z")
    assert RDS_ID.fullmatch(name) and len(name) <= 255, name
    assert name.endswith("-20261206t113000z")


@pytest.mark.parametrize(
    ("instance", "release", "message"),
    [("ideation-db", "...", "the release '...' has no letter or digit"),
     ("1db", "1.0", "must start with a letter")],
)  # fmt: skip
def test_unusable_parts_are_refused(instance: str, release: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        predeploy_snapshot_name(instance, release, "20261206T113000Z")


def snapshot(name: str, days_old: float, **overrides: Any) -> dict[str, Any]:
    created = NOW - dt.timedelta(days=days_old)
    return {"db_snapshot_identifier": name, "db_instance_identifier": "ideation-prod-db",
            "snapshot_type": "manual", "status": "available",
            "snapshot_create_time": created.isoformat().replace("+00:00", ".123000+00:00"),
            "tags": {"SnapshotPurpose": "pre-deploy", "Release": "1.0"}, **overrides}  # fmt: skip


def test_only_old_pre_deploy_snapshots_of_the_instance_are_pruned_oldest_first() -> None:
    snapshots = [
        snapshot("new", 1),
        snapshot("old", 20),
        snapshot("older", 40),
        snapshot("untagged", 40, tags={}),
        snapshot("other-purpose", 40, tags={"SnapshotPurpose": "before-upgrade"}),
        snapshot("other-instance", 40, db_instance_identifier="ideation-staging-db"),
        snapshot("automated", 40, snapshot_type="automated"),
        snapshot("creating", 40, status="creating"),
        snapshot("kept", 40),
        # As rds_snapshot_info returns them: the API's TagList as tag_list, tags empty.
        snapshot("api-tags", 30, tags={},
                 tag_list=[{"key": "SnapshotPurpose", "value": "pre-deploy"}]),
    ]  # fmt: skip
    assert snapshots_to_prune(snapshots, "ideation-prod-db", 14, NOW.isoformat(), ["kept"]) == [
        "older", "api-tags", "old"]  # fmt: skip
    assert snapshots_to_prune(snapshots, "ideation-prod-db", 45, NOW, ["kept"]) == []


@given(st.floats(0, 60), st.floats(0, 60))
def test_a_snapshot_is_pruned_exactly_when_older_than_the_retention(age: float, keep: float):
    item = snapshot("s", age)
    pruned = snapshots_to_prune([item], "ideation-prod-db", keep, NOW)
    created = dt.datetime.fromisoformat(item["snapshot_create_time"])
    assert pruned == (["s"] if NOW - created > dt.timedelta(days=keep) else [])


@pytest.mark.parametrize(
    ("keep_days", "now", "message"),
    [(-1, NOW, "0 or more"), ("soon", NOW, "number of days"), (True, NOW, "number of days"),
     (14, "yesterday", "'yesterday' is not an ISO 8601 time")],
)  # fmt: skip
def test_bad_retention_or_time_is_refused(keep_days: Any, now: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        snapshots_to_prune([snapshot("s", 1)], "ideation-prod-db", keep_days, now)
