"""Boot converge (plugins/plugin_utils/boot.py, docs/boot.md) against moto and the twin's IMDSv2
stand-in, in-process: who the instance is, the release it fetches and checks, and how it
completes its launching lifecycle hook (CONTINUE, or ABANDON with its log in CloudWatch Logs).
The real converge of a machine from its user data is in test_twin_ec2.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boot_hooks import put_boot_hooks

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

from twin import imds


def _load(name: str) -> Any:
    """A plugin_utils module by its file, as an instance runs boot.py (not as a collection)."""
    spec = importlib.util.spec_from_file_location(
        f"_boot_test_{name}", REPO / "plugins/plugin_utils" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


boot = _load("boot")
release = _load("release")

ENV = "boottest"
PREFIX = f"ideation-{ENV}"
GROUP = f"{PREFIX}-api"
BUCKET = f"{PREFIX}-artifacts"
POINTER = f"/ideation/{ENV}/release/current"
RELEASE = "20261206T150000Z-0123456789ab"


@pytest.fixture(scope="module")
def account(moto_server: Any) -> dict[str, Any]:
    """A VPC, the artifacts bucket, the bootstrap log group, and a group with both hooks."""
    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.96.0.0/24")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.96.0.0/25")["Subnet"]["SubnetId"]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=GROUP,
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required", "InstanceMetadataTags": "enabled"},
        },
    )
    autoscaling = moto_server.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": GROUP, "Version": "$Latest"},
        VPCZoneIdentifier=subnet,
        Tags=[
            {"Key": "Role", "Value": "api", "PropagateAtLaunch": True},
            {"Key": "Environment", "Value": ENV, "PropagateAtLaunch": True},
        ],
    )
    put_boot_hooks(autoscaling, GROUP)
    moto_server.client("s3").create_bucket(Bucket=BUCKET)
    moto_server.client("logs").create_log_group(logGroupName="/ideation/bootstrap")
    return {"vpc": vpc}


class Instance:
    """A new instance of the group, with an IMDS stand-in that answers 127.0.0.1 as it."""

    def __init__(self, moto: Any, vpc: str) -> None:
        self.moto = moto
        autoscaling = moto.client("autoscaling")
        before = self.ids()
        autoscaling.set_desired_capacity(
            AutoScalingGroupName=GROUP, DesiredCapacity=len(before) + 1
        )
        (self.id,) = set(self.ids()) - set(before)
        address = moto.client("ec2").describe_instances(InstanceIds=[self.id])["Reservations"][0][
            "Instances"
        ][0]["PrivateIpAddress"]
        self.imds = imds.serve(
            endpoint_url=moto.url,
            region=moto.region,
            vpc_id=vpc,
            address_map={"127.0.0.1": address},
            cache_seconds=0,
        )

    def ids(self) -> list[str]:
        group = self.moto.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]
        return [i["InstanceId"] for i in group["Instances"]]

    def state(self) -> str:
        group = self.moto.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]
        found = [i["LifecycleState"] for i in group["Instances"] if i["InstanceId"] == self.id]
        return found[0] if found else "gone"


@pytest.fixture
def instance(moto_server: Any, account: dict[str, Any]) -> Iterator[Instance]:
    launched = Instance(moto_server, account["vpc"])
    yield launched
    launched.imds.stop()


def config(moto: Any, tmp_path: Path, **changes: Any) -> boot.BootConfig:
    settings = {
        "environment": ENV,
        "name_prefix": PREFIX,
        "release_parameter": POINTER,
        "artifacts_bucket": BUCKET,
        "endpoint_url": moto.url,
        "root": str(tmp_path / "opt"),
        "logs": [str(tmp_path / "boot.log")],
    }
    settings.update(changes)
    path = tmp_path / "boot.json"
    path.write_text(json.dumps(settings))
    return boot.BootConfig.load(path)


def session(moto: Any) -> Any:
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return lambda **kwargs: boto3.Session(**credentials, **kwargs)


def upload(moto: Any, body: bytes, sha256: str | None = None) -> None:
    moto.client("s3").put_object(
        Bucket=BUCKET,
        Key=f"releases/{RELEASE}.tar.gz",
        Body=body,
        Metadata={"sha256": sha256 or hashlib.sha256(body).hexdigest()},
    )


def tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_release_id_pattern_is_the_one_releases_are_named_with():
    assert boot.RELEASE_ID.pattern == release.RELEASE_ID.pattern


def test_the_instance_knows_itself_from_its_tags(moto_server, instance, tmp_path):
    me = boot.identity(boot.Imds(instance.imds.url + "/latest"), config(moto_server, tmp_path))
    assert (me.instance_id, me.role, me.environment, me.region) == (
        instance.id,
        "api",
        ENV,
        moto_server.region,
    )
    assert me.inventory_hostname == f"api-{instance.id}"  # as inventories' aws_ec2.yml names it


def test_an_instance_of_another_environment_refuses_to_boot(moto_server, instance, tmp_path):
    with pytest.raises(
        boot.BootError,
        match="Environment tag 'boottest' is not this user data's environment 'prod'",
    ):
        boot.identity(
            boot.Imds(instance.imds.url + "/latest"),
            config(moto_server, tmp_path, environment="prod"),
        )


def test_unknown_settings_in_the_config_are_refused(moto_server, tmp_path):
    with pytest.raises(boot.BootError, match="unknown settings password"):
        config(moto_server, tmp_path, password="x")


def test_a_tampered_release_is_refused_and_not_kept(moto_server, account, tmp_path):
    body = tarball({"manifest.json": b"{}"})
    upload(moto_server, body + b"x", sha256=hashlib.sha256(body).hexdigest())
    s3 = session(moto_server)(region_name=moto_server.region).client(
        "s3", endpoint_url=moto_server.url
    )
    with pytest.raises(boot.BootError, match="does not match the sha256 it was uploaded with"):
        boot.fetch_release(s3, BUCKET, RELEASE, tmp_path)
    assert list(tmp_path.iterdir()) == []
    upload(moto_server, body)
    fetched = boot.fetch_release(s3, BUCKET, RELEASE, tmp_path)
    assert fetched.read_bytes() == body


def test_a_release_member_outside_its_directory_is_refused(tmp_path):
    path = tmp_path / "r.tar.gz"
    path.write_bytes(tarball({"../etc/cron.d/x": b"* * * * * root id\n"}))
    with pytest.raises(boot.BootError, match=r"refusing member '\.\./etc/cron\.d/x'"):
        boot.unpack(path, tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_log_batches_keep_within_put_log_events_limits():
    batches = boot.log_batches(["x" * 1000] * 2500, 1)
    assert [len(b) for b in batches] == [974, 974, 552]
    assert all(sum(len(e["message"]) + 26 for e in b) <= 1_000_000 for b in batches)
    assert boot.log_batches([""], 1) == [[{"timestamp": 1, "message": " "}]]


def test_a_failed_boot_sends_its_log_and_abandons_the_instance(moto_server, instance, tmp_path):
    """No release pointer yet (the first boots of a new environment): the instance says why in
    /ideation/bootstrap and completes ABANDON, so the group terminates and replaces it."""
    (tmp_path / "boot.log").write_text("cloud-init output line\n")
    assert instance.state() == "Pending:Wait"
    code = boot.boot(
        config(moto_server, tmp_path),
        session(moto_server),
        boot.Imds(instance.imds.url + "/latest"),
    )
    assert code == 1
    assert instance.state() in ("Terminating", "Terminating:Wait", "gone")
    events = moto_server.client("logs").get_log_events(
        logGroupName="/ideation/bootstrap", logStreamName=f"api/{instance.id}"
    )["events"]
    assert [e["message"] for e in events] == [f"{tmp_path}/boot.log: cloud-init output line"]


def test_a_release_pointer_that_is_not_a_release_id_fails_the_boot(moto_server, tmp_path):
    ssm = session(moto_server)(region_name=moto_server.region).client(
        "ssm", endpoint_url=moto_server.url
    )
    ssm.put_parameter(Name=POINTER + "-bad", Value="../../x", Type="String")
    with pytest.raises(boot.BootError, match=r"holds '\.\./\.\./x', not a release id"):
        boot.current_release(ssm, POINTER + "-bad")


def test_completing_continue_puts_the_instance_in_service(moto_server, instance, tmp_path):
    me = boot.identity(boot.Imds(instance.imds.url + "/latest"), config(moto_server, tmp_path))
    autoscaling = moto_server.client("autoscaling")
    assert boot.complete(autoscaling, config(moto_server, tmp_path), me, "CONTINUE") is True
    assert instance.state() == "InService"
    # Twice (a re-run of cloud-init's scripts): nothing left to complete, not an error.
    assert boot.complete(autoscaling, config(moto_server, tmp_path), me, "CONTINUE") is False


def test_a_leaving_instance_completes_its_terminating_hook_itself(moto_server, instance, tmp_path):
    """The watcher (boot.py --watch, the ideation-lifecycle unit) sees Terminated in IMDS once
    the group holds the instance in Terminating:Wait, drains (no release installed here:
    nothing to drain) and completes the hook, so the instance goes without waiting for the
    drain timeout."""
    settings = config(moto_server, tmp_path)
    metadata = boot.Imds(instance.imds.url + "/latest")
    me = boot.identity(metadata, settings)
    autoscaling = moto_server.client("autoscaling")
    boot.complete(autoscaling, settings, me, "CONTINUE")
    assert instance.state() == "InService"
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=instance.id, ShouldDecrementDesiredCapacity=True
    )
    assert instance.state() == "Terminating:Wait"
    assert boot.watch(settings, session(moto_server), metadata, interval=0.2) == 0
    assert instance.state() in ("Terminating", "Terminated", "gone")
