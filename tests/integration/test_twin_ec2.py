"""The twin's EC2 stand-in (scripts/twin) follows an auto-scaling group through moto alone.

Its own moto server, VPC, Docker network and AMI image, apart from the dev twin (so it runs
beside the dev twin's tests in the other pytest worker): scaling the group out starts a
machine from the AMI's image whose cloud-init runs the launch template's user data and installs
the key pair, with IMDSv2 answering it; killing the machine makes the group replace the
instance with no other command; scaling in removes the machine; stopping the stand-in leaves
no NAT rule and no process. Needs root (iptables) and Docker, like scripts/dev-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from boot_hooks import delete_boot_hooks, put_boot_hooks

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("twin-ec2")]

REPO = Path(__file__).resolve().parents[2]
NETWORK = "ideation-ec2-test"
CIDR = "10.97.0.0/24"
GATEWAY = "10.97.0.1"
LABELS = {"org.ideation.dev": "twin-ec2-test"}
GROUP = "ec2-test-api"
MARKER = "/var/lib/twin-user-data-ran"
USER_DATA = f'#!/bin/sh\necho "user data of $(hostname)" > {MARKER}\n'
IMDS_PORT = 8170
BASE_IMAGE = "ideation/debian12-cloud:latest"


def wait_until(what: str, check: Callable[[], Any], timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}\n{log.read_text()[-4000:]}")


class Ec2Twin:
    """The stand-in under test, its moto, and what it wrote."""

    def __init__(self, moto: Any, state: Path, log: Path) -> None:
        self.moto = moto
        self.state = state
        self.log = log
        self.docker = docker.from_env()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = self.moto.env(dict(os.environ, PYTHONPATH=str(REPO / "scripts")))
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "twin", "run", "--config", str(self.state / "ec2.json")],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def machines(self) -> list[dict[str, Any]]:
        try:
            return json.loads((self.state / "twin.json").read_text())["machines"]
        except (OSError, ValueError, KeyError):
            return []

    def booted(self, instance_id: str) -> dict[str, Any] | None:
        return next(
            (m for m in self.machines() if m["instance_id"] == instance_id and m["booted"]), None
        )

    def group_instances(self, *states: str) -> list[str]:
        group = self.moto.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]
        return [
            i["InstanceId"]
            for i in group["Instances"]
            if not states or i["LifecycleState"] in states
        ]

    def containers(self) -> list[Any]:
        return self.docker.containers.list(
            all=True, filters={"label": [f"{k}={v}" for k, v in LABELS.items()]}
        )

    def sh(self, name: str, command: str) -> tuple[int, str]:
        result = self.docker.containers.get(name).exec_run(["sh", "-c", command])
        return result.exit_code, result.output.decode(errors="replace").strip()

    def scale(self, desired: int) -> None:
        self.moto.client("autoscaling").set_desired_capacity(
            AutoScalingGroupName=GROUP, DesiredCapacity=desired
        )

    def one_booted_machine(self) -> dict[str, Any]:
        def booted() -> dict[str, Any] | None:
            live = self.group_instances("InService")
            return self.booted(live[0]) if len(live) == 1 else None

        return wait_until("a booted machine for the group's instance", booted, 180, self.log)


def nat_rules() -> list[str]:
    listed = subprocess.run(
        ["iptables", "-w", "-t", "nat", "-S", "PREROUTING"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return [line for line in listed if f":{IMDS_PORT}" in line]


def provision(moto: Any) -> tuple[str, str]:
    """A VPC and subnet as the Docker network's, a key pair, an instance profile, a launch
    template with user data on a fresh AMI, and an empty group; returns (vpc id, AMI id)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=CIDR)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.97.0.0/25")["Subnet"]["SubnetId"]
    key = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    ec2.import_key_pair(KeyName="ec2-test", PublicKeyMaterial=key)
    source = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ami = ec2.copy_image(SourceImageId=source, SourceRegion=moto.region, Name="ec2-test-base")[
        "ImageId"
    ]
    iam = moto.client("iam")
    iam.create_role(
        RoleName="ec2-test-api",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                    }
                ],
            }
        ),
    )
    iam.create_instance_profile(InstanceProfileName="ec2-test-api")
    iam.add_role_to_instance_profile(InstanceProfileName="ec2-test-api", RoleName="ec2-test-api")
    import base64

    ec2.create_launch_template(
        LaunchTemplateName="ec2-test-api",
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "KeyName": "ec2-test",
            "IamInstanceProfile": {"Name": "ec2-test-api"},
            "UserData": base64.b64encode(USER_DATA.encode()).decode(),
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpEndpoint": "enabled",
                "InstanceMetadataTags": "enabled",
            },
        },
    )
    moto.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": "ec2-test-api", "Version": "$Latest"},
        VPCZoneIdentifier=subnet,
        Tags=[
            {"Key": "Role", "Value": "api", "PropagateAtLaunch": True},
            {"Key": "Environment", "Value": "ec2-test", "PropagateAtLaunch": True},
        ],
    )
    return vpc, ami


@pytest.fixture(scope="module")
def ec2_twin(moto_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ec2Twin]:
    client = docker.from_env()
    vpc, ami = provision(moto_server)
    client.images.get(BASE_IMAGE).tag("ideation/ami", ami)
    network = client.networks.create(
        NETWORK,
        driver="bridge",
        labels=LABELS,
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=CIDR)]),
    )
    state = tmp_path_factory.mktemp("ec2")
    profiles = yaml.safe_load((REPO / "images" / "host-profiles.yml").read_text())
    config = {
        "endpoint_url": moto_server.url,
        "region": moto_server.region,
        "vpc_id": vpc,
        "network": NETWORK,
        "prefix": "ec2-test",
        "labels": LABELS,
        "roles": ["api", "bastion"],
        "profiles": profiles["ideation_host_profiles"],
        "role_profiles": {"api": "docker-host"},
        "default_profile": "systemd",
        "state_dir": str(state),
        "key": str(state / "key"),
        "imds_port": IMDS_PORT,
        "moto_port": int(moto_server.url.rsplit(":", 1)[1]),
        "static": {"network": NETWORK},
    }
    (state / "ec2.json").write_text(json.dumps(config))
    twin = Ec2Twin(moto_server, state, state / "ec2.log")
    twin.start()
    try:
        wait_until("the stand-in's NAT rule", nat_rules, 30, twin.log)
        yield twin
    finally:
        twin.stop()
        for container in twin.containers():
            container.remove(force=True, v=True)
        network.remove()
        client.images.remove(f"ideation/ami:{ami}")
        # Images the stand-in committed and a test left (benchmarks/bake.py's bake).
        committed = [f"{k}={v}" for k, v in LABELS.items()] + ["org.ideation.dev.ami"]
        for image in client.images.list(filters={"label": committed}):
            client.images.remove(image.id, force=True)


def test_a_scaled_out_instance_boots_its_ami_and_runs_its_user_data(ec2_twin):
    assert ec2_twin.containers() == []
    ec2_twin.scale(1)
    machine = ec2_twin.one_booted_machine()
    name = machine["name"]
    container = ec2_twin.docker.containers.get(name)
    assert container.image.tags[0].startswith("ideation/ami:")
    # On the VPC's network only, at the instance's address, as the dev twin's machines are.
    assert container.attrs["HostConfig"]["NetworkMode"] == NETWORK
    networks = container.attrs["NetworkSettings"]["Networks"]
    assert set(networks) == {NETWORK} and networks[NETWORK]["IPAddress"] == machine["ip"]
    assert ec2_twin.sh(name, f"cat {MARKER}") == (0, f"user data of {machine['hostname']}")
    code, output = ec2_twin.sh(name, "cloud-init status --long")
    assert code == 0 and "status: done" in output, output
    # The key pair reaches the AMI's default user through the metadata service, as on EC2.
    code, keys = ec2_twin.sh(name, "cat /home/admin/.ssh/authorized_keys")
    assert code == 0 and keys.startswith("ssh-ed25519 "), keys
    assert ec2_twin.sh(name, "systemctl is-active ssh") == (0, "active")
    assert machine["host_key"].startswith("ssh-ed25519 ")


def test_the_metadata_service_requires_a_token_and_answers_per_machine(ec2_twin):
    machine = ec2_twin.one_booted_machine()
    name = machine["name"]
    url = "http://169.254.169.254/latest"
    no_token = f"curl -s -o /dev/null -w '%{{http_code}}' {url}/meta-data/instance-id"
    assert ec2_twin.sh(name, no_token) == (0, "401")
    token = (
        "T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "
        f'{url}/api/token) && curl -sf -H "X-aws-ec2-metadata-token: $T" {url}/meta-data/'
    )
    assert ec2_twin.sh(name, token + "instance-id") == (0, machine["instance_id"])
    assert ec2_twin.sh(name, token + "local-ipv4") == (0, machine["ip"])
    assert ec2_twin.sh(name, token + "tags/instance/Role") == (0, "api")
    assert ec2_twin.sh(name, token + "autoscaling/target-lifecycle-state") == (0, "InService")
    code, credentials = ec2_twin.sh(name, token + "iam/security-credentials/ec2-test-api")
    assert code == 0 and json.loads(credentials)["Code"] == "Success", credentials
    # The machines reach moto on the network's gateway, the AWS endpoint of the twin.
    port = ec2_twin.moto.url.rsplit(":", 1)[1]
    moto = f"curl -s -o /dev/null -w '%{{http_code}}' http://{GATEWAY}:{port}/"
    assert ec2_twin.sh(name, moto) == (0, "200")


def test_a_restarted_stand_in_finds_its_machines_again(ec2_twin):
    machine = ec2_twin.one_booted_machine()
    container = ec2_twin.docker.containers.get(machine["name"])
    assert ec2_twin.stop() == 0
    ec2_twin.start()
    time.sleep(5)  # two passes of the new stand-in
    assert [c.id for c in ec2_twin.containers()] == [container.id]
    assert ec2_twin.one_booted_machine()["host_key"] == machine["host_key"]


def test_a_killed_machine_is_replaced_by_the_group(ec2_twin):
    killed = ec2_twin.one_booted_machine()
    ec2_twin.docker.containers.get(killed["name"]).kill()

    def replaced() -> dict[str, Any] | None:
        live = [i for i in ec2_twin.group_instances("InService") if i != killed["instance_id"]]
        return ec2_twin.booted(live[0]) if live else None

    replacement = wait_until("a booted replacement", replaced, 240, ec2_twin.log)
    assert replacement["instance_id"] != killed["instance_id"]
    wait_until(
        "the dead machine removed",
        lambda: killed["name"] not in [c.name for c in ec2_twin.containers()],
        60,
        ec2_twin.log,
    )
    state = ec2_twin.moto.client("ec2").describe_instances(InstanceIds=[killed["instance_id"]])[
        "Reservations"
    ][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"


def boot_user_data(
    moto_port: str, environment: str = "ec2-test", prefix: str = "ec2-test", role: str = "api"
) -> str:
    """The launch templates' real user data (templates/user-data.yml.j2) for a group."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar, trust_as_template

    init_plugin_loader([str(REPO / ".collections")])
    variables = {
        "platform_environment": environment,
        "item": {"key": role},
        "_aws_boot_script": str(REPO / "plugins/plugin_utils/boot.py"),
        "_aws_boot_config": {
            "environment": environment,
            "name_prefix": prefix,
            "release_parameter": f"/ideation/{environment}/release/current",
            "artifacts_bucket": f"{prefix}-artifacts",
            "endpoint_url": f"http://{GATEWAY}:{moto_port}",
        },
    }
    template = (REPO / "playbooks/provision/templates/user-data.yml.j2").read_text()
    from ansible_collections.ideation.platform.plugins.plugin_utils.user_data import (
        encode_user_data,
    )

    return encode_user_data(
        Templar(loader=DataLoader(), variables=variables).template(trust_as_template(template))
    )


def test_an_instance_that_cannot_converge_abandons_itself_and_logs_why(ec2_twin):
    """Boot converge on a real cloud-init machine: with no release deployed yet, the instance's
    boot.py (from the launch template's user data, through IMDSv2) sends its log to
    /ideation/bootstrap and completes its launching hook with ABANDON: it never reaches
    InService, and the group terminates it."""
    moto = ec2_twin.moto
    ec2_twin.scale(0)
    wait_until("no machine", lambda: ec2_twin.containers() == [], 90, ec2_twin.log)
    autoscaling = moto.client("autoscaling")
    ec2 = moto.client("ec2")
    logs = moto.client("logs")
    logs.create_log_group(logGroupName="/ideation/bootstrap")
    version = ec2.create_launch_template_version(
        LaunchTemplateName="ec2-test-api",
        SourceVersion="1",
        LaunchTemplateData={"UserData": boot_user_data(moto.url.rsplit(":", 1)[1])},
    )["LaunchTemplateVersion"]["VersionNumber"]
    put_boot_hooks(autoscaling, GROUP)
    try:
        started = time.monotonic()
        ec2_twin.scale(1)
        (instance,) = wait_until(
            "the new instance", lambda: ec2_twin.group_instances(), 30, ec2_twin.log
        )
        seen = set()

        def logged() -> list[str]:
            group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
                "AutoScalingGroups"
            ][0]
            seen.update(
                i["LifecycleState"] for i in group["Instances"] if i["InstanceId"] == instance
            )
            try:
                events = logs.get_log_events(
                    logGroupName="/ideation/bootstrap", logStreamName=f"api/{instance}"
                )["events"]
            except logs.exceptions.ResourceNotFoundException:
                return []
            return [e["message"] for e in events]

        lines = wait_until("the boot's log in /ideation/bootstrap", logged, 300, ec2_twin.log)
        print(f"launch to ABANDON with its log: {time.monotonic() - started:.1f} s")
        assert any(
            "no release pointer /ideation/ec2-test/release/current" in line for line in lines
        ), lines[-20:]
        state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
            "State"
        ]["Name"]
        wait_until(
            "the abandoned instance out of the group",
            lambda: instance not in ec2_twin.group_instances(),
            60,
            ec2_twin.log,
        )
        assert "InService" not in seen and state in ("shutting-down", "terminated", "running")
    finally:
        ec2_twin.scale(0)
        delete_boot_hooks(autoscaling, GROUP)
        ec2.delete_launch_template_versions(
            LaunchTemplateName="ec2-test-api", Versions=[str(version)]
        )
        ec2_twin.scale(1)  # as the next test expects


def release_inventory(root: Path, admin_key: str) -> Path:
    """dev's inventory as a release carries it (twin.yml is the controller's, left out), with
    what a machine of this test needs: the admin operator's key, no NTP off this machine."""
    inventory = root / "inventories" / "dev"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    source = REPO / "inventories" / "dev"
    (inventory / "aws_ec2.yml").symlink_to(source / "aws_ec2.yml")
    for path in (source / "group_vars").rglob("*.yml"):
        if path.name != "twin.yml":
            link = inventory / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    (inventory / "group_vars" / "all" / "boot_test.yml").write_text(
        yaml.safe_dump(
            {
                "common_operators": [{"name": "admin", "ssh_keys": [admin_key], "sudo": True}],
                "common_chrony_servers": ["127.0.0.1"],
            }
        )
    )
    return inventory


def test_a_bastion_configures_itself_from_the_release_and_joins_its_group(ec2_twin, tmp_path):
    """Boot converge from nothing, no SSH from the controller: a release of dev built and
    activated by release.yml; a new bastion instance fetches it, converges itself with the
    release's own ansible-core (site.yml's plays for its tier, then its gate), and completes its
    launching hook with CONTINUE, so it is InService with sshd and fail2ban running. Converging
    again changes nothing."""
    moto = ec2_twin.moto
    ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    admin_key = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    key_arn = moto.client("kms").create_key()["KeyMetadata"]["Arn"]
    moto.client("kms").create_alias(AliasName="alias/ideation-dev", TargetKeyId=key_arn)
    moto.client("s3").create_bucket(Bucket="ideation-dev-artifacts")
    with contextlib.suppress(moto.client("logs").exceptions.ResourceAlreadyExistsException):
        moto.client("logs").create_log_group(logGroupName="/ideation/bootstrap")
    started = time.monotonic()
    built = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "playbooks/release.yml",
            "-i",
            str(release_inventory(tmp_path, admin_key)),
            "-e",
            json.dumps({"release_activate": True, "release_build_dir": str(tmp_path / "b")}),
        ],
        cwd=REPO,
        env=moto.env(dict(os.environ)),  # with an inventory cache of its own
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    print(f"release.yml: {time.monotonic() - started:.1f} s")

    ami = ec2.describe_launch_template_versions(LaunchTemplateName="ec2-test-api")[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]["ImageId"]
    if os.environ.get("TWIN_BASTION_FROM_BAKE"):  # benchmarks/bake.py: boot from its bake
        started = time.monotonic()
        baked = bake(ec2_twin, tmp_path)
        assert baked.returncode == 0, baked.stdout[-3000:]
        print(f"bake of the bastion with boot's packages: {time.monotonic() - started:.1f} s")
        ami = ec2.describe_images(
            Owners=["self"], Filters=[{"Name": "tag:Purpose", "Values": ["bake"]}]
        )["Images"][0]["ImageId"]
    subnet = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]["VPCZoneIdentifier"]
    ec2.create_launch_template(
        LaunchTemplateName="ideation-dev-bastion",
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "IamInstanceProfile": {"Name": "ec2-test-api"},
            "UserData": boot_user_data(
                moto.url.rsplit(":", 1)[1], "dev", "ideation-dev", "bastion"
            ),
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpEndpoint": "enabled",
                "InstanceMetadataTags": "enabled",
            },
        },
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="ideation-dev-bastion",
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": "ideation-dev-bastion", "Version": "$Latest"},
        VPCZoneIdentifier=subnet,
        Tags=[
            {"Key": "Role", "Value": "bastion", "PropagateAtLaunch": True},
            {"Key": "Environment", "Value": "dev", "PropagateAtLaunch": True},
        ],
    )
    put_boot_hooks(autoscaling, "ideation-dev-bastion")

    def states() -> dict[str, str]:
        group = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=["ideation-dev-bastion"]
        )["AutoScalingGroups"][0]
        return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}

    try:
        started = time.monotonic()
        autoscaling.set_desired_capacity(
            AutoScalingGroupName="ideation-dev-bastion", DesiredCapacity=1
        )
        (instance,) = wait_until("the bastion instance", states, 30, ec2_twin.log)
        machine = wait_until(
            "its machine",
            lambda: next((m for m in ec2_twin.machines() if m["instance_id"] == instance), None),
            120,
            ec2_twin.log,
        )
        seen = []

        def in_service() -> bool:
            state = states().get(instance, "gone")
            if not seen or seen[-1] != state:
                seen.append(state)
            if state not in ("Pending", "Pending:Wait", "InService"):
                output = ec2_twin.sh(machine["name"], "tail -40 /var/log/cloud-init-output.log")[1]
                raise AssertionError(f"the bastion went {state}:\n{output}")
            return state == "InService"

        wait_until("the bastion InService", in_service, 900, ec2_twin.log)
        seconds = time.monotonic() - started
        print(f"scale-out to InService (launch, converge, gate): {seconds:.1f} s")
        assert seen[-2:] == ["Pending:Wait", "InService"], seen
        name = machine["name"]
        code, log = ec2_twin.sh(name, "cat /var/log/cloud-init-output.log")
        assert "boot: launching lifecycle action completed with CONTINUE" in log, log[-3000:]
        print(*[line for line in log.splitlines() if line.startswith("boot: seconds")])
        recap = [line for line in log.splitlines() if line.startswith(f"bastion-{instance}")]
        assert recap and "failed=0" in recap[-1], log[-3000:]
        for unit in ("ssh", "fail2ban"):
            assert ec2_twin.sh(name, f"systemctl is-active {unit}") == (0, "active"), unit
        # Converging again (as an operator re-runs it) changes nothing on the machine.
        code, again = ec2_twin.sh(
            name, "python3 /usr/local/lib/ideation/boot.py --config /etc/ideation/boot.json 2>&1"
        )
        recap = [line for line in again.splitlines() if line.startswith(f"bastion-{instance}")]
        assert code == 0 and recap and " changed=0 " in recap[-1] + " ", again[-3000:]
        # Scale-in: the instance's watcher (the ideation-lifecycle unit) drains it and completes
        # the terminating hook itself; without it the group would hold it for the hook's 900 s.
        started = time.monotonic()
        autoscaling.set_desired_capacity(
            AutoScalingGroupName="ideation-dev-bastion", DesiredCapacity=0
        )
        wait_until("the bastion out of its group", lambda: instance not in states(), 120,
                   ec2_twin.log)
        print(f"scale-in to terminated (watcher, drain, hook): {time.monotonic() - started:.1f} s")
    finally:
        autoscaling.delete_auto_scaling_group(
            AutoScalingGroupName="ideation-dev-bastion", ForceDelete=True
        )
        wait_until(
            "no bastion machine",
            lambda: not [m for m in ec2_twin.machines() if m["role"] == "bastion"],
            120,
            ec2_twin.log,
        )


def test_an_image_of_an_instance_boots_with_its_files_and_goes_when_deregistered(ec2_twin):
    """CreateImage on a machine's instance commits the machine to the AMI's image, even when the
    instance is terminated at once (as a bake does); an instance of the new AMI boots from it
    with the builder's files; deregistering the AMI removes the image."""
    builder = ec2_twin.one_booted_machine()
    ec2 = ec2_twin.moto.client("ec2")
    assert ec2_twin.sh(builder["name"], "echo baked > /etc/twin-baked")[0] == 0
    ami = ec2.create_image(InstanceId=builder["instance_id"], Name="ec2-test-bake")["ImageId"]
    image = f"ideation/ami:{ami}"
    launched: list[str] = []
    try:
        ec2_twin.scale(0)  # the builder goes at once; its machine is committed first
        wait_until(
            "the AMI's image", lambda: ec2_twin.docker.images.list(name=image), 30, ec2_twin.log
        )
        subnet = ec2_twin.moto.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]["VPCZoneIdentifier"]
        launched = [
            i["InstanceId"]
            for i in ec2.run_instances(
                ImageId=ami,
                MinCount=1,
                MaxCount=1,
                SubnetId=subnet,
                KeyName="ec2-test",
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "bastion"}]}
                ],
            )["Instances"]
        ]
        machine = wait_until(
            "a booted machine of the new AMI",
            lambda: ec2_twin.booted(launched[0]),
            180,
            ec2_twin.log,
        )
        assert ec2_twin.docker.containers.get(machine["name"]).image.tags == [image]
        assert ec2_twin.sh(machine["name"], "cat /etc/twin-baked") == (0, "baked")
        # A machine still runs from it: deregistering keeps the image until the machine goes.
        ec2.deregister_image(ImageId=ami)
        ec2.terminate_instances(InstanceIds=launched)
        wait_until(
            "the deregistered AMI's image removed",
            lambda: not ec2_twin.docker.images.list(name=image),
            60,
            ec2_twin.log,
        )
    finally:
        if launched:
            ec2.terminate_instances(InstanceIds=launched)
        wait_until("no machine", lambda: ec2_twin.containers() == [], 60, ec2_twin.log)
        with contextlib.suppress(docker.errors.ImageNotFound):
            ec2_twin.docker.images.remove(image)
        ec2_twin.scale(1)  # as the next test expects


# What a bake must leave out of its image, and keep (playbooks/bake/builder.yml): "clean" if so.
CLEANED = (
    "ls /etc/ssh/ssh_host_* /home/admin/.ssh/authorized_keys /var/lib/cloud/instance"
    " /var/lib/apt/periodic/update-success-stamp 2>/dev/null;"
    " test -s /etc/machine-id && echo machine-id;"
    " test -s /etc/ssh/sshd_config || echo no-sshd_config;"
    " ls /var/lib/apt/lists | grep -v -e '^partial$' -e '^lock$' -e '^auxfiles$';"
    " find /var/log -type f -size +0 | grep -v journal;"
    " echo clean"
)


def bake(ec2_twin: Ec2Twin, tmp: Path, **extra: Any) -> subprocess.CompletedProcess[str]:
    """playbooks/bake.yml for the bastion on the stand-in's moto: builders in the group's subnet,
    reached on their private address with a key pair of their own, no instance profile."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    moto = ec2_twin.moto
    ec2 = moto.client("ec2")
    key = tmp / "bake_key"
    if not key.exists():
        private = Ed25519PrivateKey.generate()
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
        key.chmod(0o600)
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        key.with_suffix(".pub").write_bytes(public)
        with contextlib.suppress(ec2.exceptions.ClientError):
            ec2.delete_key_pair(KeyName="ec2-bake")
        ec2.import_key_pair(KeyName="ec2-bake", PublicKeyMaterial=public)
    group = moto.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    base = ec2.describe_launch_template_versions(
        LaunchTemplateName="ec2-test-api", Versions=["1"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
    variables = {
        "platform_environment": "ec2-test",
        "platform_name_prefix": "ec2-test",
        "aws_region": moto.region,
        "aws_ami_id": base,
        "aws_ami_name": "debian-12-amd64-*",
        "aws_ami_owners": ["136693071363"],
        "aws_tags": {"Environment": "ec2-test"},
        "bake_roles": ["bastion"],
        "bake_key_name": "ec2-bake",
        "bake_subnet_id": group["AutoScalingGroups"][0]["VPCZoneIdentifier"],
        "bake_security_group_ids": [],
        "bake_connect": "private",
        "bake_instance_profile": False,
        "bake_ssh_private_key_file": str(key),
        "bake_ssh_common_args": f"-o StrictHostKeyChecking=accept-new "
        f"-o UserKnownHostsFile={tmp}/known_hosts -o IdentitiesOnly=yes",
        "bake_connect_timeout": 180,
        **extra,
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/bake.yml",
         "-i", "localhost,", "-e", json.dumps(variables)],
        cwd=REPO,
        env=moto.env(dict(os.environ, ANSIBLE_FACT_CACHING="memory")),
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip


def builders(ec2: Any, run: str | None = None) -> list[str]:
    """Live builders (of one run, or of any)."""
    filters = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping"]}]
    filters.append({"Name": "tag:BakeRun", "Values": [run]} if run else
                   {"Name": "tag-key", "Values": ["BakeRole"]})
    answer = ec2.describe_instances(Filters=filters)["Reservations"]
    return [i["InstanceId"] for r in answer for i in r["Instances"]]


def test_a_failed_bake_leaves_no_builder_and_no_image(ec2_twin, tmp_path):
    """A builder that cannot be configured (here: never reachable in time; a failing install takes
    the same rescue, at the cost of a boot and an apt run) fails the run naming the role and
    the failed step; its builder is terminated and no image of it is registered or committed."""
    ec2 = ec2_twin.moto.client("ec2")
    started = time.monotonic()
    result = bake(ec2_twin, tmp_path, bake_run="failing", bake_connect_timeout=3)
    print(f"failed bake: {time.monotonic() - started:.1f} s")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "No image for bastion" in output, output[-3000:]
    assert "bastion: NOT BAKED: Wait until the builder answers over SSH" in output, output[-3000:]
    assert builders(ec2, "failing") == []
    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "tag:BakeRun", "Values": ["failing"]}]
    )["Images"]
    assert images == []
    wait_until(
        "the builder's machine removed",
        lambda: not [m for m in ec2_twin.machines() if m["builder"]],
        60,
        ec2_twin.log,
    )


def test_a_bake_makes_a_clean_bastion_image_and_a_second_bake_reuses_it(ec2_twin, tmp_path):
    """bake.yml on the twin: the builder runs the bastion's install entry points and is
    cleaned, its image is registered with its tags, committed by the twin and the builder
    terminated; an instance of the image boots as a new machine with the packages installed
    (its own host keys, machine ID and login key). Baking again with nothing changed launches
    no builder and reuses the image."""
    ec2 = ec2_twin.moto.client("ec2")
    started = time.monotonic()
    # Boot converge's Python packages cost 100 s more here; benchmarks/bake.py bakes with them.
    result = bake(ec2_twin, tmp_path, bake_boot_packages=["python3-yaml"])
    print(f"bake of the bastion: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    (image,) = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "tag:Purpose", "Values": ["bake"]}]
    )["Images"]
    ami = image["ImageId"]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags["Role"] == "bastion" and tags["Environment"] == "ec2-test"
    assert len(tags["ContentHash"]) == 64 and tags["BakedAt"].endswith("Z")
    assert tags["BaseImage"].startswith("ami-") and tags["Release"]
    assert builders(ec2) == []
    launched: list[str] = []
    try:
        wait_until(
            "the bake's image", lambda: ec2_twin.docker.images.list(f"ideation/ami:{ami}"), 30,
            ec2_twin.log,
        )  # fmt: skip
        subnet = ec2_twin.moto.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]["VPCZoneIdentifier"]
        launched = [
            i["InstanceId"]
            for i in ec2.run_instances(
                ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, KeyName="ec2-test",
                TagSpecifications=[{"ResourceType": "instance",
                                    "Tags": [{"Key": "Role", "Value": "bastion"}]}],
            )["Instances"]
        ]  # fmt: skip
        machine = wait_until(
            "a booted machine of the bake", lambda: ec2_twin.booted(launched[0]), 180,
            ec2_twin.log,
        )  # fmt: skip
        name = machine["name"]
        code, output = ec2_twin.sh(name, "dpkg-query -W -f='${Status}\n' openssh-server fail2ban")
        assert (code, output) == (0, "install ok installed\ninstall ok installed"), output
        # Nothing of the builder is in the image: no host key, login key, machine ID, cloud-init
        # instance, log or package list.
        cleaned = ec2_twin.docker.containers.run(
            f"ideation/ami:{ami}", ["sh", "-c", CLEANED], entrypoint=[], remove=True
        ).decode()
        assert cleaned.split() == ["clean"], cleaned
        # So an instance of it boots as a new machine: its own host keys, ID and login key.
        code, keys = ec2_twin.sh(name, "cat /home/admin/.ssh/authorized_keys")
        assert code == 0 and len(keys.splitlines()) == 1, keys
        assert (tmp_path / "bake_key.pub").read_text().split()[1] not in keys
        assert ec2_twin.sh(name, "test -s /etc/machine-id")[0] == 0
        assert ec2_twin.sh(name, "systemctl is-active ssh") == (0, "active")
        assert machine["host_key"].startswith("ssh-ed25519 ")
        # Nothing changed: the bake is reused, no builder launched.
        seen = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["BakeRole"]}])
        before = sum(len(r["Instances"]) for r in seen["Reservations"])
        started = time.monotonic()
        again = bake(ec2_twin, tmp_path, bake_boot_packages=["python3-yaml"])
        print(f"second bake (reused): {time.monotonic() - started:.1f} s")
        assert again.returncode == 0, again.stdout[-3000:]
        assert f"bastion: reused {ami}" in again.stdout, again.stdout[-3000:]
        seen = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["BakeRole"]}])
        assert sum(len(r["Instances"]) for r in seen["Reservations"]) == before
    finally:
        if launched:
            ec2.terminate_instances(InstanceIds=launched)
        ec2.deregister_image(ImageId=ami)
        wait_until(
            "no machine of the bake, no image",
            lambda: not [m for m in ec2_twin.machines() if m["role"] == "bastion"]
            and not ec2_twin.docker.images.list(f"ideation/ami:{ami}"),
            90,
            ec2_twin.log,
        )


def test_scaling_in_removes_the_machine_and_stopping_leaves_nothing(ec2_twin):
    ec2_twin.one_booted_machine()
    ec2_twin.scale(0)
    wait_until(
        "no machine left, none in twin.json",
        lambda: ec2_twin.containers() == [] and ec2_twin.machines() == [],
        90,
        ec2_twin.log,
    )
    assert ec2_twin.stop() == 0
    assert nat_rules() == []
