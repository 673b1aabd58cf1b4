"""deploy.yml's pre-deploy snapshot (playbooks/runbooks/tasks/db-snapshot.yml) against moto,
without the dev twin: the snapshot named after the release, tagged and waited for; the skip
flag, said out loud and recorded; pruning by age of only the snapshots the mechanism made
(found by their tag); and no release when the snapshot cannot be taken.

The step runs through tests/integration/files/deploy-snapshot.yml, a copy of deploy.yml's
snapshot play (checked below) with deploy.yml's own defaults; the whole deploy.yml runs on the
twin (test_runbooks.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
PLAYBOOK = REPO / "tests/integration/files/deploy-snapshot.yml"
DEPLOY = REPO / "playbooks/runbooks/deploy.yml"
INSTANCES = {test: f"ideation-{test}-db" for test in ("taken", "pruned", "skipped")}


def deploy_plays() -> list[dict[str, Any]]:
    return yaml.safe_load(DEPLOY.read_text())


@pytest.fixture(scope="module")
def rds(moto_server: Any) -> Any:
    """moto with one database per test (tests stay independent without resetting moto), each
    with a manual snapshot made by hand; and a pre-deploy-tagged snapshot of another instance."""
    moto_server.reset()
    client = moto_server.client("rds")
    for name in (*INSTANCES.values(), "ideation-other-db"):
        client.create_db_instance(
            DBInstanceIdentifier=name, Engine="postgres", EngineVersion="16.4",
            DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="ideation_user",
            MasterUserPassword="not-a-real-password", BackupRetentionPeriod=1,
        )  # fmt: skip
        client.create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=f"{name}-by-hand")
    client.create_db_snapshot(
        DBInstanceIdentifier="ideation-other-db", DBSnapshotIdentifier="other-predeploy",
        Tags=[{"Key": "SnapshotPurpose", "Value": "pre-deploy"}],
    )  # fmt: skip
    return client


def run_step(moto: Any, instance: str, run_id: str, **overrides: Any) -> tuple[Any, dict]:
    """The snapshot step of ``instance`` with deploy.yml's defaults, the release 1.4.2_rc.1
    and ``overrides``: the run, and what the deploy report would record ({} if not reached).
    Ansible's json callback gives each task's result."""
    values = {**deploy_plays()[0]["vars"], "deploy_tag": "1.4.2_rc.1", "runbook_run_id": run_id,
              "deploy_snapshot_instance": instance, **overrides}  # fmt: skip
    env = moto.env() | {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    run = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(PLAYBOOK), "-i", "inventories/dev",
         "-e", json.dumps(values)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    # The json callback's document, after what ansible.cfg's profile_tasks prints first.
    output, _ = json.JSONDecoder().raw_decode(run.stdout[run.stdout.index("{\n"):])
    tasks = {t["task"]["name"]: t["hosts"].get("localhost", {})
             for t in output["plays"][0]["tasks"]}  # fmt: skip
    run.said = " ".join(str(result.get("msg", "")) for result in tasks.values())
    return run, tasks.get("Show what the deploy report would record", {}).get("msg", {})


def snapshots(client: Any, instance: str) -> dict[str, dict]:
    found = client.describe_db_snapshots(DBInstanceIdentifier=instance, SnapshotType="manual")
    return {s["DBSnapshotIdentifier"]: s for s in found["DBSnapshots"]}


def test_deploy_takes_the_snapshot_between_the_checks_and_the_api_hosts() -> None:
    """deploy.yml's snapshot play is the one this test runs, placed before any API host."""
    plays = deploy_plays()
    names = [play["name"] for play in plays]
    step = yaml.safe_load(PLAYBOOK.read_text())[0]
    index = names.index(step["name"])
    assert names.index("Check the fleet before the release") < index
    assert index < names.index("Release to the API hosts, a batch at a time")
    play = plays[index]
    assert (play["hosts"], play["module_defaults"]) == ("localhost", step["module_defaults"])
    assert play["tasks"] == [{**step["tasks"][0], "ansible.builtin.import_tasks":
                              "tasks/db-snapshot.yml"}]  # fmt: skip


def test_the_snapshot_is_named_after_the_release_tagged_waited_for_and_recorded(
    moto_server, rds
):
    instance = INSTANCES["taken"]
    run, saved = run_step(moto_server, instance, "20261206T113000Z")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    name = f"{instance}-predeploy-1-4-2-rc-1-20261206t113000z"
    found = snapshots(rds, instance)
    assert set(found) == {f"{instance}-by-hand", name}
    assert found[name]["Status"] == "available"
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(
        ResourceName=found[name]["DBSnapshotArn"])["TagList"]}  # fmt: skip
    assert tags["SnapshotPurpose"] == "pre-deploy"
    assert (tags["Release"], tags["DeployRun"], tags["Environment"]) == (
        "1.4.2_rc.1", "20261206T113000Z", "dev")
    record = saved["record"]
    assert (record["skipped"], record["id"], record["release"]) == (False, name, "1.4.2_rc.1")
    assert record["status"] == "available" and record["pruned"] == []
    assert saved["line"].startswith(f"Pre-deploy snapshot: {name} of {instance} (available, ")


def test_old_pre_deploy_snapshots_are_pruned_and_nothing_else(moto_server, rds):
    """moto stamps a snapshot with the time it is made: an earlier deploy's snapshot (tagged
    by hand here) is kept at the default 14 days and pruned at 0 days, with the first run's;
    the untagged one and another instance's pre-deploy snapshot stay. (The ages themselves:
    the unit tests of plugin_utils/db_snapshots.py.)"""
    instance = INSTANCES["pruned"]
    earlier = f"{instance}-predeploy-1-4-1-20261101t090000z"
    rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=earlier,
                           Tags=[{"Key": "SnapshotPurpose", "Value": "pre-deploy"}])  # fmt: skip
    kept, saved = run_step(moto_server, instance, "20261206T100000Z")
    assert kept.returncode == 0, kept.stdout[-3000:]
    first = f"{instance}-predeploy-1-4-2-rc-1-20261206t100000z"
    assert saved["record"]["pruned"] == []
    assert set(snapshots(rds, instance)) == {f"{instance}-by-hand", earlier, first}
    pruned, saved = run_step(moto_server, instance, "20261206T120000Z",
                             deploy_snapshot_keep_days=0)  # fmt: skip
    assert pruned.returncode == 0, pruned.stdout[-3000:]
    assert sorted(saved["record"]["pruned"]) == sorted([earlier, first])
    latest = f"{instance}-predeploy-1-4-2-rc-1-20261206t120000z"
    assert set(snapshots(rds, instance)) == {f"{instance}-by-hand", latest}
    assert set(snapshots(rds, "ideation-other-db")) == {"ideation-other-db-by-hand",
                                                         "other-predeploy"}  # fmt: skip
    assert "pruned 2 older than 0 days: " in saved["line"]


def test_the_skip_flag_is_said_and_recorded(moto_server, rds):
    instance = INSTANCES["skipped"]
    run, saved = run_step(moto_server, instance, "20261206T113000Z",
                          deploy_snapshot=False)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert set(snapshots(rds, instance)) == {f"{instance}-by-hand"}
    assert "Pre-deploy snapshot SKIPPED (deploy_snapshot=false): release 1.4.2_rc.1" in run.said
    assert saved["record"]["skipped"] is True
    assert saved["record"]["reason"] == "deploy_snapshot=false"
    assert saved["line"] == "Pre-deploy snapshot: SKIPPED (deploy_snapshot=false)"


def test_no_snapshot_no_release(moto_server, rds):
    """A snapshot that cannot be taken fails the step, so deploy.yml stops before any API host."""
    run, saved = run_step(moto_server, "ideation-absent-db", "20261206T113000Z")
    assert run.returncode != 0
    assert "ideation-absent-db" in run.said, run.stdout[-3000:]
    assert saved == {}
