"""staging's teardown keeps a final database snapshot (as prod's does; dev's does not), on its
own moto server holding only what the check needs: the staging database."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

DB = "ideation-staging-db"


@pytest.fixture(scope="module")
def database(moto_server: Any) -> str:
    """The staging database as provisioning leaves it (identifier from staging's aws.yml)."""
    moto_server.client("rds").create_db_instance(
        DBInstanceIdentifier=DB, Engine="postgres", DBInstanceClass="db.t3.medium",
        AllocatedStorage=50, MasterUsername="ideation_user", MasterUserPassword="x" * 20,
        StorageEncrypted=True)
    return DB


def test_staging_teardown_takes_a_final_snapshot(ansible, moto_server, database):
    run = ansible.playbook("teardown.yml", "staging", "-e", "teardown_confirm=staging")
    assert run.returncode == 0, run.tail(80)
    rds = moto_server.client("rds")
    assert rds.describe_db_instances()["DBInstances"] == []
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=database)["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"].startswith(f"{DB}-final-") for s in snapshots] == [True]
    assert snapshots[0]["SnapshotType"] == "manual"  # kept after the instance is gone
