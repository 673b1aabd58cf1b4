"""patch.yml's Standby window on moto, without the twin: a group at its minimum (prod's 2/2)
gets its minimum lowered for the batch and back afterwards; a host left in Standby keeps the
window open and the run says why; a run that died in a window is finished by the next one; a
group that cannot take the batch stops the run before anything changes. The runbook's own task
files run through tests/integration/files/standby-window.yml; the whole patch.yml runs on the twin
(test_runbooks.py, the Celery group at 1/1)."""

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
PLAYBOOK = REPO / "tests/integration/files/standby-window.yml"
GROUP = "ideation-test-api"
TAG = "ideation:standby-window-min-size"


@pytest.fixture
def asg(moto_server: Any, tmp_path: Path) -> tuple[Any, Path]:
    """A fresh group of two api instances at 2/2 (max 4), and an inventory naming them as the
    aws_ec2 inventory would."""
    moto_server.reset()
    ec2, client = moto_server.client("ec2"), moto_server.client("autoscaling")
    ec2.create_launch_template(LaunchTemplateName="api", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.small"})  # fmt: skip
    client.create_auto_scaling_group(
        AutoScalingGroupName=GROUP, MinSize=2, MaxSize=4, DesiredCapacity=2,
        AvailabilityZones=[f"{moto_server.region}a"], LaunchTemplate={"LaunchTemplateName": "api"},
    )  # fmt: skip
    ids = sorted(i["InstanceId"] for i in group(client)["Instances"])
    hosts = {
        f"api-{iid}": {"instance_id": iid, "tags": {"aws:autoscaling:groupName": GROUP},
                       "ansible_connection": "local", "ansible_python_interpreter": str(
                           VENV_BIN / "python")}
        for iid in ids
    }  # fmt: skip
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"platform_name_prefix": "ideation-test", "aws_region": moto_server.region},
        "children": {"api": {"hosts": hosts}}}}))  # fmt: skip
    return client, inventory


def group(client: Any) -> dict[str, Any]:
    return client.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"][0]  # fmt: skip


def tags(client: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in group(client)["Tags"]}


def run(moto: Any, inventory: Path, batch: list[str], leave_out: list[str] | None = None) -> Any:
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(PLAYBOOK), "-i", str(inventory),
         "-e", json.dumps({"window_batch": batch, "window_leave_out": leave_out or []})],
        cwd=REPO, env=moto.env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def hosts(inventory: Path) -> list[str]:
    return sorted(yaml.safe_load(inventory.read_text())["all"]["children"]["api"]["hosts"])


def test_a_group_at_its_minimum_patches_a_batch_and_gets_its_minimum_back(
    moto_server: Any, asg: tuple[Any, Path]
) -> None:
    client, inventory = asg
    first = hosts(inventory)[0]
    done = run(moto_server, inventory, [first])
    assert done.returncode == 0, done.stdout[-3000:]
    assert "ideation-test-api: minimum 2 -> 1 for a batch of 1" in done.stdout
    assert "ideation-test-api: minimum back to 2" in done.stdout
    after = group(client)
    assert (after["MinSize"], after["DesiredCapacity"]) == (2, 2)
    assert {i["LifecycleState"] for i in after["Instances"]} == {"InService"}
    assert TAG not in tags(client)


def test_a_host_left_in_standby_keeps_the_window_and_the_next_run_closes_it(
    moto_server: Any, asg: tuple[Any, Path]
) -> None:
    client, inventory = asg
    first, second = hosts(inventory)
    failed = run(moto_server, inventory, [first], leave_out=[first])
    assert failed.returncode == 0, failed.stdout[-3000:]
    assert "keeps its minimum at 1 (was 2) while " + first.split("-", 1)[1] in failed.stdout
    assert (group(client)["MinSize"], tags(client)[TAG]) == (1, "2")
    # The next run refuses while the host is in Standby, with the reason ...
    refused = run(moto_server, inventory, [second])
    assert refused.returncode != 0 and "instances not InService" in refused.stdout
    # ... and once an operator puts it back, finishes the window from the tag.
    client.exit_standby(AutoScalingGroupName=GROUP, InstanceIds=[first.split("-", 1)[1]])
    resumed = run(moto_server, inventory, [second])
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert (group(client)["MinSize"], group(client)["DesiredCapacity"]) == (2, 2)
    assert TAG not in tags(client)


def test_a_batch_larger_than_the_group_stops_before_anything_changes(
    moto_server: Any, asg: tuple[Any, Path]
) -> None:
    client, inventory = asg
    client.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=1, DesiredCapacity=1)
    refused = run(moto_server, inventory, hosts(inventory))  # two hosts, one in the group now
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert "ideation-test-api: a batch of 2 is more than its desired capacity 1" in refused.stdout
    assert (group(client)["MinSize"], TAG in tags(client)) == (1, False)
