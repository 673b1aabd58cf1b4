"""The dev twin's EC2: one machine (a systemd container) per instance moto runs.

Each pass reads moto (the instances of the twin's VPC) and Docker (the machines carrying the
twin's labels), then: removes the machine of every instance that is gone, reports a machine
that died to its auto-scaling group as unhealthy (the group replaces it, as EC2 and ELB health
checks make AWS do), and starts a machine for every pending or running instance that has none,
from the image of the instance's AMI (`<ami_repository>:<ImageId>`). Nothing is kept only in
memory: a restarted reconciler finds the same machines. It also keeps the files operators and
Ansible read (.dev/twin.json, .dev/ssh/config, .dev/ssh/known_hosts) in step with the machines
that have finished their first boot. docs/dev-environment.md describes the twin.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import docker
import docker.errors

LOG = logging.getLogger("twin.ec2")

# A machine whose container has stayed exited this long is dead (a reboot inside a machine
# exits systemd too, and Docker's restart policy starts it again within a second or two).
DEAD_AFTER_SECONDS = 10.0
BOOT_FINISHED = "/var/lib/cloud/instance/boot-finished"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
GROUP_TAG = "aws:autoscaling:groupName"
# A bake's builder (playbooks/bake.yml) carries the role it is baked for in this tag, not in
# Role: it is no host of the inventory, and its machine gets the role's hardware but no alias,
# no published port and no ProxyJump (the controller reaches it as Packer reaches a builder).
BAKE_ROLE_TAG = "BakeRole"
LIVE_STATES = ("pending", "running")
# On an image the twin committed from a machine: the AMI it is, and the instance it came from.
AMI_LABEL = "org.ideation.dev.ami"
SOURCE_LABEL = "org.ideation.dev.source-instance"


@dataclass(frozen=True)
class Profile:
    """How a machine of a role runs (images/host-profiles.yml): what the hardware would give."""

    tmpfs: list[str]
    volumes: list[str]
    capabilities: list[str]
    security_opts: list[str]
    image: str = ""  # Molecule's image: the twin boots the AMI's instead


@dataclass
class TwinConfig:
    """What playbooks/dev/twin.yml writes to .dev/ec2.json for the reconciler."""

    endpoint_url: str
    region: str
    vpc_id: str
    network: str
    prefix: str
    labels: dict[str, str]
    roles: list[str]
    profiles: dict[str, Profile]
    role_profiles: dict[str, str]
    default_profile: str
    state_dir: str
    ami_repository: str = "ideation/ami"
    published_ports: dict[str, list[str]] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    # Names that resolve to the first nginx machine (the site's public names).
    edge_names: list[str] = field(default_factory=list)
    login_user: str = "admin"
    key: str = ""
    # Copied into twin.json as they are (stand-ins, domains, CA, ...).
    static: dict[str, Any] = field(default_factory=dict)
    # The twin's services on its network (the IMDS stand-in, moto's forwarder).
    gateway: str = ""
    bridge: str = ""
    imds_port: int = 0
    moto_port: int = 0

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TwinConfig:
        data = json.loads(Path(path).read_text())
        data["profiles"] = {name: Profile(**spec) for name, spec in data["profiles"].items()}
        return cls(**data)


@dataclass(frozen=True)
class Instance:
    """What the reconciler needs of one EC2 instance."""

    instance_id: str
    role: str
    ip: str
    image_id: str
    hostname: str
    state: str
    group: str | None
    builder: bool = False


@dataclass
class Machine:
    """A twin machine as twin.json lists it."""

    name: str
    role: str
    instance_id: str
    ip: str
    hostname: str
    image: str
    ports: list[str]
    status: str
    booted: bool = False
    builder: bool = False
    host_key: str = ""
    cloud_init_errors: list[str] = field(default_factory=list)


def machine_name(config: TwinConfig, instance: Instance) -> str:
    return f"{config.prefix}-{instance.role}-{instance.instance_id}"


def port_bindings(specs: Iterable[str]) -> dict[int, tuple[str, int]]:
    """"127.0.0.1:8443:443" -> {443: ("127.0.0.1", 8443)}; loopback only, always."""
    bindings: dict[int, tuple[str, int]] = {}
    for spec in specs:
        address, host_port, container_port = spec.split(":")
        if not address.startswith("127."):
            raise ValueError(f"the twin publishes ports on loopback only, not {spec!r}")
        bindings[int(container_port)] = (address, int(host_port))
    return bindings


class Reconciler:
    """Machines follow moto's instances; see the module's docstring."""

    def __init__(self, config: TwinConfig, docker_client: docker.DockerClient | None = None,
                 session: boto3.session.Session | None = None) -> None:
        self.config = config
        self.docker = docker_client or docker.from_env()
        session = session or boto3.session.Session(region_name=config.region)
        self.ec2 = session.client("ec2", endpoint_url=config.endpoint_url)
        self.autoscaling = session.client("autoscaling", endpoint_url=config.endpoint_url)
        self.reported: set[str] = set()
        self.booted: dict[str, Machine] = {}
        self.written: str = ""

    # --- reading moto and Docker ---

    def instances(self) -> dict[str, Instance]:
        """The live instances of the twin's VPC that carry one of its roles, by ID."""
        found: dict[str, Instance] = {}
        paginator = self.ec2.get_paginator("describe_instances")
        pages = paginator.paginate(Filters=[
            {"Name": "vpc-id", "Values": [self.config.vpc_id]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ])
        for page in pages:
            for reservation in page["Reservations"]:
                for item in reservation["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                    role = tags.get("Role") or tags.get(BAKE_ROLE_TAG, "")
                    if role not in self.config.roles or not item.get("PrivateIpAddress"):
                        continue
                    found[item["InstanceId"]] = Instance(
                        instance_id=item["InstanceId"], role=role,
                        ip=item["PrivateIpAddress"], image_id=item["ImageId"],
                        hostname=(item.get("PrivateDnsName") or item["InstanceId"]).split(".")[0],
                        state=item["State"]["Name"], group=tags.get(GROUP_TAG),
                        builder="Role" not in tags)
        return found

    def machines(self) -> dict[str, Any]:
        """The twin's machines (containers with an instance-id label), by instance ID."""
        filters = {"label": [f"{k}={v}" for k, v in self.config.labels.items()]
                   + ["org.ideation.dev.instance-id"]}
        found = {}
        for container in self.docker.containers.list(all=True, filters=filters):
            found[container.labels["org.ideation.dev.instance-id"]] = container
        return found

    # --- acting ---

    def reconcile(self) -> dict[str, list[str]]:
        """One pass; what it did, for the log and the tests."""
        instances = self.instances()
        machines = self.machines()
        done: dict[str, list[str]] = {"imaged": [], "unimaged": [], "removed": [],
                                      "unhealthy": [], "started": []}
        # Images first: a builder's machine must be committed before its removal below.
        done["imaged"] = self.commit_images(machines)
        done["unimaged"] = self.remove_deregistered_images()
        for instance_id, container in machines.items():
            if instance_id not in instances:
                LOG.info("instance %s is gone: removing machine %s", instance_id, container.name)
                container.remove(force=True, v=True)
                self.booted.pop(instance_id, None)
                done["removed"].append(instance_id)
        for instance_id, container in machines.items():
            instance = instances.get(instance_id)
            if instance and instance_id not in self.reported and self.is_dead(container):
                self.report_unhealthy(instance, container)
                done["unhealthy"].append(instance_id)
        machines = {k: v for k, v in machines.items() if k in instances}
        for instance_id, instance in sorted(instances.items()):
            if instance_id not in machines:
                container = self.start(instance, instances, machines)
                if container is not None:
                    machines[instance_id] = container
                    done["started"].append(instance_id)
        self.check_boots(instances, machines)
        self.write_state(instances, machines)
        return done

    # --- AMIs <-> images ---

    def commit_images(self, machines: dict[str, Any]) -> list[str]:
        """Commit each machine that an AMI without a local image was created from (CreateImage)
        to `<ami_repository>:<ImageId>`; the AMIs imaged."""
        if not machines:
            return []
        images = self.ec2.describe_images(Owners=["self"], Filters=[
            {"Name": "source-instance-id", "Values": sorted(machines)}])["Images"]
        imaged = []
        for image in sorted(images, key=lambda i: i["ImageId"]):
            if image.get("State") in ("deregistered", "failed", "disabled"):
                continue
            name = f"{self.config.ami_repository}:{image['ImageId']}"
            try:
                self.docker.images.get(name)
                continue
            except docker.errors.ImageNotFound:
                pass
            source = next((instance_id for instance_id in machines
                           if self.created_from(image, instance_id)), None)
            if source is None:
                continue
            container = machines[source]
            repository, tag = name.rsplit(":", 1)
            LOG.info("AMI %s created from instance %s: committing machine %s to %s",
                     image["ImageId"], source, container.name, name)
            container.commit(repository=repository, tag=tag, changes=[
                f"LABEL {AMI_LABEL}={image['ImageId']} {SOURCE_LABEL}={source}"])
            imaged.append(image["ImageId"])
        return imaged

    def created_from(self, image: dict[str, Any], instance_id: str) -> bool:
        """Whether CreateImage made this AMI from this instance (the filter, asked per ID)."""
        if image.get("SourceInstanceId"):
            return bool(image["SourceInstanceId"] == instance_id)
        found = self.ec2.describe_images(ImageIds=[image["ImageId"]], Filters=[
            {"Name": "source-instance-id", "Values": [instance_id]}])["Images"]
        return bool(found)

    def remove_deregistered_images(self) -> list[str]:
        """Remove the images this twin committed (its labels) whose AMI moto no longer has."""
        filters = {"label": [f"{k}={v}" for k, v in self.config.labels.items()] + [AMI_LABEL]}
        committed = {image.labels[AMI_LABEL] for image in self.docker.images.list(filters=filters)}
        if not committed:
            return []
        known = {image["ImageId"] for image in self.ec2.describe_images(
            Owners=["self"], Filters=[{"Name": "image-id", "Values": sorted(committed)}])["Images"]
            if image.get("State") != "deregistered"}
        removed = []
        for ami in sorted(committed):
            if ami in known:
                continue
            name = f"{self.config.ami_repository}:{ami}"
            LOG.info("AMI %s is deregistered: removing image %s", ami, name)
            try:
                self.docker.images.remove(name, noprune=False)
            except docker.errors.APIError as error:  # a machine still runs from it
                LOG.warning("image %s not removed yet: %s", name, error)
                continue
            removed.append(ami)
        return removed

    @staticmethod
    def is_dead(container: Any) -> bool:
        container.reload()
        state = container.attrs["State"]
        if state.get("Status") not in ("exited", "dead") or state.get("Restarting"):
            return False
        finished = state.get("FinishedAt", "")
        try:
            ended = calendar.timegm(time.strptime(finished[:19], "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            return True
        return time.time() - ended >= DEAD_AFTER_SECONDS

    def report_unhealthy(self, instance: Instance, container: Any) -> None:
        """Tell the group its instance is unhealthy; AWS (moto's fidelity layer) replaces it."""
        self.reported.add(instance.instance_id)
        if not instance.group:
            LOG.warning("machine %s died; instance %s is in no auto-scaling group, nothing "
                        "replaces it", container.name, instance.instance_id)
            return
        LOG.info("machine %s died: instance %s reported Unhealthy to %s", container.name,
                 instance.instance_id, instance.group)
        self.autoscaling.set_instance_health(InstanceId=instance.instance_id,
                                             HealthStatus="Unhealthy",
                                             ShouldRespectGracePeriod=False)

    def image_for(self, instance: Instance) -> str | None:
        image = f"{self.config.ami_repository}:{instance.image_id}"
        try:
            self.docker.images.get(image)
        except docker.errors.ImageNotFound:
            return None
        return image

    def start(self, instance: Instance, instances: dict[str, Instance],
              machines: dict[str, Any]) -> Any | None:
        """Create and start the instance's machine on its private address."""
        image = self.image_for(instance)
        if image is None:
            LOG.error("instance %s: AMI %s has no image %s:%s on this machine; not started",
                      instance.instance_id, instance.image_id, self.config.ami_repository,
                      instance.image_id)
            return None
        config = self.config
        profile = config.profiles[config.role_profiles.get(instance.role, config.default_profile)]
        # The first machine of a role publishes the role's ports (on loopback only).
        publishing = any(c.labels.get("org.ideation.dev.role") == instance.role
                         and c.labels.get("org.ideation.dev.ports") for c in machines.values())
        ports = ([] if publishing or instance.builder
                 else config.published_ports.get(instance.role, []))
        api = self.docker.api
        binds = [v for v in profile.volumes if ":" in v]
        host_config = api.create_host_config(
            binds=binds, port_bindings=port_bindings(ports), cap_add=profile.capabilities,
            security_opt=profile.security_opts or None, tmpfs={p: "" for p in profile.tmpfs},
            cgroupns="host", extra_hosts=self.hosts(instances), network_mode=config.network,
            # A reboot inside the machine exits systemd; Docker boots it again, as EC2 would.
            restart_policy={"Name": "unless-stopped"})
        name = machine_name(config, instance)
        labels = {**config.labels, "org.ideation.dev.instance-id": instance.instance_id,
                  "org.ideation.dev.role": instance.role,
                  "org.ideation.dev.ports": ",".join(ports)}
        LOG.info("instance %s (%s, %s): starting machine %s from %s", instance.instance_id,
                 instance.role, instance.ip, name, image)
        created = api.create_container(
            image, name=name, hostname=instance.hostname, detach=True, labels=labels,
            stop_signal="SIGRTMIN+3", host_config=host_config,
            ports=[p for p in port_bindings(ports)],
            volumes=[v for v in profile.volumes if ":" not in v] or None,
            networking_config=api.create_networking_config({
                config.network: api.create_endpoint_config(ipv4_address=instance.ip)}))
        api.start(created["Id"])
        return self.docker.containers.get(created["Id"])

    def hosts(self, instances: dict[str, Instance]) -> dict[str, str]:
        """What a machine's resolver answers, as the VPC's DNS would: the stand-ins' endpoint
        names, and the site's names on the first nginx instance."""
        hosts = dict(self.config.hosts)
        nginx = sorted(i.instance_id for i in instances.values()
                       if i.role == "nginx" and not i.builder)
        if nginx:
            hosts.update(dict.fromkeys(self.config.edge_names, instances[nginx[0]].ip))
        return hosts

    # --- first boot and the files that describe the machines ---

    def check_boots(self, instances: dict[str, Instance], machines: dict[str, Any]) -> None:
        """Record the machines whose cloud-init has finished, with their SSH host key."""
        for instance_id, container in machines.items():
            if instance_id in self.booted or instance_id not in instances:
                continue
            container.reload()
            if container.status != "running":
                continue
            finished = container.exec_run(["test", "-e", BOOT_FINISHED]).exit_code == 0
            key = container.exec_run(["cat", HOST_KEY])
            if not finished or key.exit_code != 0:
                continue
            result = container.exec_run(["cat", "/run/cloud-init/result.json"])
            errors: list[str] = []
            if result.exit_code == 0:
                errors = json.loads(result.output or b"{}").get("v1", {}).get("errors", [])
            machine = self.describe(instances[instance_id], container)
            machine.booted = True
            machine.host_key = " ".join(key.output.decode().split()[:2])
            machine.cloud_init_errors = errors
            self.booted[instance_id] = machine
            LOG.info("machine %s booted (cloud-init %s)", container.name,
                     "with errors: " + "; ".join(errors) if errors else "done")

    def describe(self, instance: Instance, container: Any) -> Machine:
        ports = [p for p in container.labels.get("org.ideation.dev.ports", "").split(",") if p]
        return Machine(name=container.name, role=instance.role, instance_id=instance.instance_id,
                       ip=instance.ip, hostname=instance.hostname,
                       image=container.attrs["Config"]["Image"], ports=ports,
                       status=container.status, builder=instance.builder)

    def write_state(self, instances: dict[str, Instance], machines: dict[str, Any]) -> None:
        """twin.json (every machine, booted or not), ssh/config and ssh/known_hosts (the booted
        ones): rewritten only when something changed, each atomically."""
        listed = []
        for instance_id, container in sorted(machines.items()):
            if instance_id not in instances:
                continue
            machine = self.booted.get(instance_id) or self.describe(instances[instance_id],
                                                                    container)
            machine.status = container.status
            listed.append(machine)
        twin = {**self.config.static, "gateway": self.config.gateway,
                "machines": [asdict(m) for m in listed]}
        text = json.dumps(twin, indent=2, sort_keys=True) + "\n"
        if text == self.written:
            return
        state = Path(self.config.state_dir)
        booted = [m for m in listed if m.booted]
        ssh = state / "ssh"
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(ssh / "known_hosts",
                     "".join(f"{m.ip} {m.host_key}\n" for m in booted), 0o600)
        atomic_write(ssh / "config", ssh_config(self.config, booted), 0o600)
        atomic_write(state / "twin.json", text, 0o644)
        self.written = text


def ssh_config(config: TwinConfig, machines: list[Machine]) -> str:
    """How operators and Ansible reach the machines, as in AWS: the bastion directly, every
    other machine through it."""
    state = Path(config.state_dir)
    lines = [
        "# The dev twin, reached as in AWS: the bastion directly, every other machine through it.",
        f"#   ssh -F {state}/ssh/config bastion",
        f"#   ssh -F {state}/ssh/config api-1",
        "# Written by the twin's EC2 stand-in (scripts/twin); scripts/dev-down removes it.",
    ]
    for role in config.roles:
        of_role = sorted((m for m in machines if m.role == role and not m.builder),
                         key=lambda m: m.instance_id)
        for index, machine in enumerate(of_role, start=1):
            alias = role if role == "bastion" else f"{role}-{index}"
            lines.append(f"Host {alias} {machine.hostname} {machine.ip}")
            lines.append(f"  HostName {machine.ip}")
            if role != "bastion":
                lines.append("  ProxyJump bastion")
            lines.append("")
    for machine in sorted((m for m in machines if m.builder), key=lambda m: m.instance_id):
        lines += [f"# builder of a {machine.role} bake", f"Host {machine.hostname} {machine.ip}",
                  f"  HostName {machine.ip}", ""]
    lines += [
        "Host *",
        f"  User {config.login_user}",
        f"  IdentityFile {config.key}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {state}/ssh/known_hosts",
        "  StrictHostKeyChecking yes",
    ]
    return "\n".join(lines) + "\n"


def atomic_write(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(mode)
    temporary.replace(path)


def moto_answers(error: Exception) -> bool:
    """False for errors that mean moto is not there (restarting): the pass is skipped."""
    return not isinstance(error, (botocore.exceptions.EndpointConnectionError,
                                  botocore.exceptions.ConnectionClosedError))
