"""The runbooks of playbooks/runbooks/ (docs/runbooks/), run for real.

- db-restore.yml against moto (the moto_server fixture): a point-in-time restore into a new
  instance, its refusals, and the cut-over by renaming.
- patch.yml and deploy.yml on the dev twin, under load: a bounded load generator
  (tests/integration/loadgen.py) sends requests through nginx on 127.0.0.1 while the runbook
  runs, and every request must succeed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


@dataclass
class Run:
    """One ansible-playbook run: exit code, output, wall time."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def tail(self, lines: int = 60) -> str:
        return "\n".join((self.stdout + "\n" + self.stderr).splitlines()[-lines:])


def playbook(name: str, *args: str, env: dict[str, str] | None = None,
             timeout: float = 1800) -> Run:
    """Run playbooks/runbooks/<name> with the dev inventory (ansible.cfg's default)."""
    started = time.monotonic()
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), f"playbooks/runbooks/{name}", "-i", "inventories/dev",
         *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )
    return Run(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def extra(**values: object) -> list[str]:
    return ["-e", json.dumps(values)]


# --- db-restore.yml on moto ------------------------------------------------------------------

SOURCE = "ideation-dev-db"


@pytest.fixture
def rds(moto_server):
    """A fresh moto with the dev database instance (1 day of automated backups), as provisioned."""
    moto_server.reset()
    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.2.{20 + i}.0/24",
                                 AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    group = ec2.create_security_group(GroupName="ideation-dev-database", Description="db",
                                      VpcId=vpc)["GroupId"]
    client = moto_server.client("rds")
    client.create_db_subnet_group(DBSubnetGroupName=SOURCE, DBSubnetGroupDescription="db",
                                  SubnetIds=subnets)
    client.create_db_instance(
        DBInstanceIdentifier=SOURCE, Engine="postgres", EngineVersion="16.4",
        DBSubnetGroupName=SOURCE, VpcSecurityGroupIds=[group],
        DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="ideation_user",
        MasterUserPassword="not-a-real-password", BackupRetentionPeriod=1, DBName="ideation_db",
        Tags=[{"Key": "Environment", "Value": "dev"}, {"Key": "Project", "Value": "ideation"}],
    )
    return client


def instances(client) -> dict[str, dict]:
    return {i["DBInstanceIdentifier"]: i for i in client.describe_db_instances()["DBInstances"]}


@pytest.mark.integration
def test_db_restore_to_a_point_in_time_makes_a_new_instance(moto_server, rds, tmp_path):
    restore_time = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    moto_server.start_recording()
    run = playbook("db-restore.yml", *extra(restore_time=restore_time, restore_target="restored-1",
                                            runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    writes = moto_server.writes(moto_server.stop_recording())
    assert run.returncode == 0, run.tail()

    found = instances(rds)
    assert set(found) == {SOURCE, "restored-1"}
    restored = found["restored-1"]
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(
        ResourceName=restored["DBInstanceArn"])["TagList"]}
    assert tags["RestoredFrom"] == SOURCE
    assert tags["RestoreTime"] == restore_time
    assert tags["Environment"] == "dev"
    assert restored["BackupRetentionPeriod"] == 1
    # The source is only read: every write is about the new instance.
    assert "RestoreDBInstanceToPointInTime" in writes
    assert set(writes) <= {"RestoreDBInstanceToPointInTime", "ModifyDBInstance",
                           "AddTagsToResource"}, writes
    report = json.loads(next(tmp_path.glob("db-restore-*.json")).read_text())
    assert report["instance"] == "restored-1"
    assert report["from"] == restore_time
    assert float(report["minutes"]) <= float(report["rto_minutes"])


@pytest.mark.integration
def test_db_restore_refuses_a_time_after_the_latest_restorable_one(moto_server, rds, tmp_path):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    run = playbook("db-restore.yml", *extra(restore_time=future, runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    assert run.returncode != 0
    assert "is after the latest restorable time" in run.stdout, run.tail()
    assert set(instances(rds)) == {SOURCE}


@pytest.mark.integration
def test_db_restore_refuses_without_automated_backups(moto_server, rds, tmp_path):
    rds.modify_db_instance(DBInstanceIdentifier=SOURCE, BackupRetentionPeriod=0,
                           ApplyImmediately=True)
    run = playbook("db-restore.yml", *extra(runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    assert run.returncode != 0
    assert "automated backups are off" in run.stdout, run.tail()
    assert set(instances(rds)) == {SOURCE}


@pytest.mark.integration
def test_db_restore_cutover_gives_the_restored_instance_the_source_name(moto_server, rds,
                                                                        tmp_path):
    first = playbook("db-restore.yml", *extra(restore_target="restored-2",
                                              runbook_report_dir=str(tmp_path)),
                     env=moto_server.env())
    assert first.returncode == 0, first.tail()
    cutover = playbook("db-restore.yml", *extra(restore_target="restored-2", restore_cutover=True,
                                                runbook_report_dir=str(tmp_path)),
                       env=moto_server.env())
    assert cutover.returncode == 0, cutover.tail()
    found = instances(rds)
    assert "restored-2" not in found
    assert SOURCE in found
    replaced = [name for name in found if name.startswith(f"{SOURCE}-replaced-")]
    assert len(replaced) == 1, found.keys()
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(
        ResourceName=found[SOURCE]["DBInstanceArn"])["TagList"]}
    assert tags.get("RestoredFrom") == SOURCE, "the instance named like the source is the restore"
