"""Boot converge: an instance configures itself from its environment's current release.

Cloud-init's user data (playbooks/provision/templates/user-data.yml.j2) writes this file and a
config and runs ``python3 boot.py --config /etc/ideation/boot.json`` (docs/boot.md). It reads the
instance's Role and Environment tags from IMDSv2, the release pointer from SSM, downloads and
checks the release, installs its pinned wheels and collections, runs the playbook
``ideation.platform.boot`` against the instance itself, and completes the auto-scaling group's
launching lifecycle hook: CONTINUE when the converge and the tier's readiness gate passed,
ABANDON otherwise, after sending its log to CloudWatch Logs. Standard library and boto3 only
(Debian's python3-boto3 until the release's own wheels are installed); no secret passes here.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

IMDS_URL = "http://169.254.169.254/latest"
TIERS = ("nginx", "api", "celery", "monitoring", "bastion")
LAUNCHING_HOOK = "launching"
TERMINATING_HOOK = "terminating"
# As plugins/plugin_utils/release.py names releases (a test keeps the two equal).
RELEASE_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$")
# CloudWatch Logs limits: 10,000 events and 1 MiB (with 26 bytes per event) per call.
_LOG_BATCH_EVENTS = 10_000
_LOG_BATCH_BYTES = 1_000_000
_LOG_EVENT_CHARS = 200_000


class BootError(Exception):
    """A step of the boot converge failed; the message says which and why."""


@dataclass(frozen=True)
class BootConfig:
    """What user data tells the instance: where its environment keeps releases. No secret."""

    environment: str
    name_prefix: str
    release_parameter: str
    artifacts_bucket: str
    log_group: str = "/ideation/bootstrap"
    playbook: str = "ideation.platform.boot"
    root: str = "/opt/ideation"
    endpoint_url: str | None = None
    imds_url: str = IMDS_URL
    heartbeat_seconds: float = 60.0
    logs: tuple[str, ...] = ("/var/log/cloud-init-output.log",)

    @classmethod
    def load(cls, path: str | Path) -> BootConfig:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise BootError(f"{path}: expected a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise BootError(f"{path}: unknown settings {', '.join(unknown)}")
        if "logs" in data:
            data["logs"] = tuple(data["logs"])
        try:
            return cls(**data)
        except TypeError as error:
            raise BootError(f"{path}: {error}") from None


@dataclass(frozen=True)
class Identity:
    instance_id: str
    region: str
    role: str
    environment: str

    @property
    def inventory_hostname(self) -> str:
        """The name the environment's aws_ec2 inventory gives this instance (role-instance id)."""
        return f"{self.role}-{self.instance_id}"


def group_name(config: BootConfig, role: str) -> str:
    return f"{config.name_prefix}-{role}"


class Imds:
    """A small IMDSv2 client: a session token, then GETs with it."""

    def __init__(self, url: str = IMDS_URL, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None

    def _open(self, request: urllib.request.Request) -> str:
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            return answer.read().decode()

    def token(self) -> str:
        if self._token is None:
            request = urllib.request.Request(
                f"{self.url}/api/token",
                method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
            )
            self._token = self._open(request)
        return self._token

    def get(self, path: str, retry: bool = True) -> str:
        request = urllib.request.Request(
            f"{self.url}/meta-data/{path.lstrip('/')}",
            headers={"X-aws-ec2-metadata-token": self.token()},
        )
        try:
            return self._open(request).strip()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise BootError(f"the metadata service has no {path}") from None
            if error.code == 401 and retry:  # the token expired (the watcher runs for days)
                self._token = None
                return self.get(path, retry=False)
            raise


def identity(imds: Imds, config: BootConfig) -> Identity:
    """Who this instance is, from IMDSv2; refuses a role or environment it must not serve."""
    try:
        role = imds.get("tags/instance/Role")
        environment = imds.get("tags/instance/Environment")
    except BootError:
        raise BootError(
            "no Role or Environment tag in the metadata: the launch template needs "
            "instance_metadata_tags enabled, the group propagated tags"
        ) from None
    found = Identity(
        instance_id=imds.get("instance-id"),
        region=imds.get("placement/region"),
        role=role,
        environment=environment,
    )
    if found.role not in TIERS:
        raise BootError(f"Role tag {found.role!r} is none of {', '.join(TIERS)}")
    if found.environment != config.environment:
        raise BootError(
            f"Environment tag {found.environment!r} is not this user data's "
            f"environment {config.environment!r}"
        )
    return found


def current_release(ssm: Any, parameter: str) -> str:
    """The release id the environment's pointer names."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"].strip()
    except ssm.exceptions.ParameterNotFound:
        raise BootError(
            f"no release pointer {parameter}: deploy a release first "
            "(playbooks/release.yml -e release_activate=true)"
        ) from None
    if not RELEASE_ID.match(value):
        raise BootError(f"the pointer {parameter} holds {value[:40]!r}, not a release id")
    return value


def fetch_release(s3: Any, bucket: str, release: str, directory: Path) -> Path:
    """Download releases/<id>.tar.gz and check it against the sha256 it was uploaded with."""
    key = f"releases/{release}.tar.gz"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{release}.tar.gz"
    answer = s3.get_object(Bucket=bucket, Key=key)
    expected = answer.get("Metadata", {}).get("sha256", "")
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for chunk in answer["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if not expected or digest.hexdigest() != expected:
        target.unlink()
        raise BootError(
            f"s3://{bucket}/{key} does not match the sha256 it was uploaded with "
            f"({expected or 'none recorded'})"
        )
    return target


def unpack(tarball: Path, destination: Path) -> Path:
    """Extract a release, refusing members that would land outside `destination`."""
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
                raise BootError(f"{tarball.name}: refusing member {member.name!r}")
        partial = destination.with_name(destination.name + ".partial")
        archive.extractall(partial)
    partial.rename(destination)
    return destination


def install(release_dir: Path) -> Path:
    """A virtualenv with the release's pinned wheels (Debian's packages for their
    dependencies), and the release's collections; returns its bin directory."""
    venv = release_dir / "venv"
    wheels = sorted(str(p) for p in (release_dir / "wheels").glob("*.whl"))
    if not wheels:
        raise BootError(f"{release_dir.name}: the release has no wheels")
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            *wheels,
        ]
    )
    tarballs = sorted(str(p) for p in (release_dir / "collection").glob("*.tar.gz"))
    _run(
        [
            str(venv / "bin" / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            "--no-deps",
            "--force",
            "-p",
            str(release_dir / "collections"),
            *tarballs,
        ]
    )
    return venv / "bin"


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    print("boot: " + " ".join(argv[:4]) + (" ..." if len(argv) > 4 else ""), flush=True)
    result = subprocess.run(argv, env=env, check=False)
    if result.returncode != 0:
        raise BootError(
            f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} exited {result.returncode}"
        )


def converge_command(
    config: BootConfig, me: Identity, release_dir: Path, bin_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The ansible-playbook run of the environment's inventory limited to this instance, on the
    local connection, and its environment."""
    extra = {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(bin_dir / "python"),
        # Plays skip what only the controller does (the database bootstrap: docs/boot.md).
        "ideation_boot": True,
    }
    argv = [
        str(bin_dir / "ansible-playbook"),
        config.playbook,
        "--inventory",
        str(release_dir / "inventory"),
        "--limit",
        me.inventory_hostname,
        "--extra-vars",
        json.dumps(extra),
    ]
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(release_dir / "collections"),
        ANSIBLE_INVENTORY_CACHE="false",
        ANSIBLE_FORCE_COLOR="false",
        ANSIBLE_LOCAL_TEMP=str(release_dir / "tmp"),
        ANSIBLE_INVENTORY_CACHE_CONNECTION=str(release_dir / "tmp" / "inventory"),
        AWS_REGION=me.region,
        AWS_DEFAULT_REGION=me.region,
        PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
    )
    if config.endpoint_url:
        env["AWS_ENDPOINT_URL"] = config.endpoint_url
    return argv, env


class Heartbeat:
    """Records lifecycle heartbeats while the converge runs, so a slow one is not timed out."""

    def __init__(self, autoscaling: Any, config: BootConfig, me: Identity) -> None:
        self._stop = threading.Event()
        self._call = lambda: autoscaling.record_lifecycle_action_heartbeat(
            LifecycleHookName=LAUNCHING_HOOK,
            AutoScalingGroupName=group_name(config, me.role),
            InstanceId=me.instance_id,
        )
        self._thread = threading.Thread(
            target=self._beat, args=(config.heartbeat_seconds,), daemon=True
        )

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self._call()
            except Exception as error:
                print(f"boot: heartbeat not recorded: {error}", flush=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def complete(
    autoscaling: Any, config: BootConfig, me: Identity, result: str, hook: str = LAUNCHING_HOOK
) -> bool:
    """Complete a lifecycle hook; False when the group holds no action for this instance
    (a group without the hook, or an instance started by hand)."""
    try:
        autoscaling.complete_lifecycle_action(
            LifecycleHookName=hook,
            AutoScalingGroupName=group_name(config, me.role),
            LifecycleActionResult=result,
            InstanceId=me.instance_id,
        )
    except autoscaling.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            print(f"boot: no lifecycle action to complete: {error}", flush=True)
            return False
        raise
    print(f"boot: {hook} lifecycle action completed with {result}", flush=True)
    return True


def log_batches(lines: list[str], now_ms: int) -> list[list[dict[str, Any]]]:
    """CloudWatch Logs events of `lines`, in batches within PutLogEvents' limits."""
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for line in lines:
        event = {"timestamp": now_ms, "message": line[:_LOG_EVENT_CHARS] or " "}
        cost = len(event["message"].encode()) + 26
        if len(batches[-1]) >= _LOG_BATCH_EVENTS or size + cost > _LOG_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += cost
    return [batch for batch in batches if batch]


def ship_logs(logs: Any, config: BootConfig, me: Identity, paths: tuple[str, ...]) -> str:
    """Send the boot's log files to the bootstrap log group; returns the stream's name."""
    stream = f"{me.role}/{me.instance_id}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=config.log_group, logStreamName=stream)
    lines: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text(errors="replace")
            lines += [f"{path}: {line}" for line in text.splitlines()]
        except OSError as error:
            lines.append(f"{path}: not readable ({error.strerror})")
    for batch in log_batches(lines, int(time.time() * 1000)):
        logs.put_log_events(logGroupName=config.log_group, logStreamName=stream, logEvents=batch)
    return stream


def boot(config: BootConfig, session_factory: Any, imds: Imds) -> int:
    """The whole boot converge; 0 when the instance completed its hook with CONTINUE."""
    me = identity(imds, config)
    session = session_factory(region_name=me.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=config.endpoint_url)

    autoscaling = client("autoscaling")
    print(f"boot: {me.inventory_hostname} of {config.environment}", flush=True)
    started = time.monotonic()
    try:
        release = current_release(client("ssm"), config.release_parameter)
        root = Path(config.root) / "releases"
        release_dir = root / release
        if not (release_dir / "venv").is_dir():
            tarball = fetch_release(client("s3"), config.artifacts_bucket, release, root)
            if release_dir.exists():
                raise BootError(f"{release_dir} exists half-installed: remove it and boot again")
            unpack(tarball, release_dir)
            tarball.unlink()
            bin_dir = install(release_dir)
        else:
            bin_dir = release_dir / "venv" / "bin"
        (release_dir / "tmp").mkdir(exist_ok=True)
        current = Path(config.root) / "current"
        current.unlink(missing_ok=True)
        current.symlink_to(release_dir)
        print(f"boot: release {release}", flush=True)
        installed = time.monotonic()
        argv, env = converge_command(config, me, release_dir, bin_dir)
        with Heartbeat(autoscaling, config, me):
            _run(argv, env)
        print(
            f"boot: seconds: release and install {installed - started:.1f}, "
            f"converge and gate {time.monotonic() - installed:.1f}",
            flush=True,
        )
    except Exception as error:
        print(f"boot: FAILED: {error}", flush=True)
        traceback.print_exc()
        sys.stdout.flush()
        try:
            stream = ship_logs(client("logs"), config, me, config.logs)
            print(f"boot: log sent to {config.log_group} {stream}", flush=True)
        finally:
            complete(autoscaling, config, me, "ABANDON")
        return 1
    complete(autoscaling, config, me, "CONTINUE")
    return 0


def watch(config: BootConfig, session_factory: Any, imds: Imds, interval: float = 5.0) -> int:
    """Wait until the group terminates this instance (IMDS target-lifecycle-state Terminated:
    it is in Terminating:Wait), drain it with the current release's ideation.platform.drain,
    then complete the terminating hook so that it goes without waiting for the timeout. A
    failed drain is logged and the hook completed anyway: the instance goes either way."""
    me = identity(imds, config)
    while True:
        try:
            if imds.get("autoscaling/target-lifecycle-state") == "Terminated":
                break
        except (BootError, OSError) as error:
            print(f"watch: metadata not read: {error}", flush=True)
        time.sleep(interval)
    print(f"watch: {me.inventory_hostname} is leaving its group: draining", flush=True)
    release_dir = Path(config.root) / "current"
    if (release_dir / "venv" / "bin").is_dir():
        drain = BootConfig(**{**config.__dict__, "playbook": "ideation.platform.drain"})
        argv, env = converge_command(drain, me, release_dir.resolve(), release_dir / "venv" / "bin")
        try:
            _run(argv, env)
        except BootError as error:
            print(f"watch: drain failed ({error}); leaving anyway", flush=True)
    else:
        print("watch: no release installed, nothing to drain", flush=True)
    session = session_factory(region_name=me.region)
    autoscaling = session.client("autoscaling", endpoint_url=config.endpoint_url)
    complete(autoscaling, config, me, "CONTINUE", hook=TERMINATING_HOOK)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--config", default="/etc/ideation/boot.json")
    parser.add_argument(
        "--watch", action="store_true", help="drain and complete the terminating hook at the end"
    )
    args = parser.parse_args(argv)
    import boto3

    config = BootConfig.load(args.config)
    if args.watch:
        return watch(config, boto3.Session, Imds(config.imds_url))
    return boot(config, boto3.Session, Imds(config.imds_url))


if __name__ == "__main__":
    sys.exit(main())
