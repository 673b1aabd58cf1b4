"""Shared fixtures for integration tests: a moto server on 127.0.0.1, and helpers to use it.

`moto_server` (module scope) starts tests/integration/moto_server.py (moto with the fidelity
patches described there) on a free port and stops it afterwards. Everything that talks AWS in a
test (boto3, ansible-playbook, ansible-inventory) gets `moto_server.env()`: dummy credentials and
AWS_ENDPOINT_URL pointing at the server, and no profile or real credentials from the caller.

Other test packages can use the fixture as is, or `start_moto_server()` as a context manager.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("moto_server.py")
DEFAULT_REGION = "us-east-1"

# Variables that could point a test at a real account or change its behaviour.
_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_URL",
    "EC2_URL",
    "S3_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search")


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoServer:
    """A running moto server and what a test needs to talk to it."""

    port: int
    process: subprocess.Popen[bytes]
    recording: Path
    region: str = DEFAULT_REGION
    log: Path | None = None
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a subprocess that must reach this server and nothing else."""
        env = dict(os.environ if base is None else base)
        for name in _SCRUBBED:
            env.pop(name, None)
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_ENDPOINT_URL=self.url,
            AWS_EC2_METADATA_DISABLED="true",
        )
        # An inventory cache of its own: the inventories' aws_ec2 files cache under fixed
        # prefixes in ansible.cfg's directory, and this server's answers (no dev instances, say)
        # must never reach a run against another AWS, such as the dev twin's.
        cache = self.recording.parent / "inventory-cache"
        env.setdefault("ANSIBLE_INVENTORY_CACHE_CONNECTION", str(cache))
        return env

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client bound to this server."""
        import boto3

        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service,
                region_name=key[1],
                endpoint_url=self.url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[key]

    def _post(self, path: str) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        self._post("/moto-api/reset")

    def start_recording(self) -> None:
        """Record every request from now on (moto's recorder), dropping earlier ones."""
        self.recording.write_text("")
        self._post("/moto-api/recorder/start-recording")

    def stop_recording(self) -> list[str]:
        """Stop recording and return the AWS actions called, in order."""
        self._post("/moto-api/recorder/stop-recording")
        text = self.recording.read_text() if self.recording.exists() else ""
        return [request_action(json.loads(line)) for line in text.splitlines() if line.strip()]

    @staticmethod
    def writes(actions: list[str]) -> list[str]:
        """The actions among these that may change state."""
        return [action for action in actions if not is_read_only(action)]


def request_action(entry: dict[str, Any]) -> str:
    """Name the AWS action of a recorded request: Query Action, JSON target, or REST verb."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(entry.get("url", "")).query)
    form = urllib.parse.parse_qs(body) if "=" in body else {}
    action = (form.get("Action") or query.get("Action") or [None])[0]
    if action:
        return action
    path = urllib.parse.urlsplit(entry.get("url", "")).path
    return f"{entry.get('method', '?')} {path}"


def is_read_only(action: str) -> bool:
    """True for actions that cannot change state (Describe*/List*/Get*, REST GET/HEAD)."""
    if " " in action:
        return action.split(" ", 1)[0] in ("GET", "HEAD")
    return action.startswith(_READ_ONLY_PREFIXES)


def _wait_ready(server: MotoServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log.read_text() if server.log and server.log.exists() else ""
            raise RuntimeError(f"moto server exited with {server.process.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(f"{server.url}/moto-api/data.json", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server on port {server.port} not ready after {timeout:.0f}s")


@contextlib.contextmanager
def start_moto_server(workdir: Path, region: str = DEFAULT_REGION) -> Iterator[MotoServer]:
    """Start the patched moto server on a free port; stop it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    recording = workdir / "moto-recording.jsonl"
    log = workdir / "moto-server.log"
    env = dict(os.environ)
    env.update(
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",  # iam_role attaching AWS-managed policies
        MOTO_RECORDER_FILEPATH=str(recording),
    )
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    server = MotoServer(port=port, process=process, recording=recording, region=region, log=log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server for the test module, started on a free port of 127.0.0.1."""
    with start_moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def dev_twin() -> Iterator[dict[str, Any]]:
    """The dev twin (docs/dev-environment.md), shared by every test module that needs it:
    scripts/dev-up once per session (from nothing, or converging a twin left running), its
    .dev/twin.json as the value, and scripts/dev-down at the end of the session unless
    DEV_TWIN_KEEP=1. The whole output of both is in build/logs/dev-up.log and dev-down.log."""
    if shutil.which("docker") is None:
        pytest.fail("the dev twin needs Docker (scripts/setup installs it)")
    logs = REPO / "build" / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def run(script: str, timeout: int) -> None:
        log = logs / f"{script}.log"
        with log.open("w") as out:
            result = subprocess.run([str(REPO / "scripts" / script)], cwd=REPO,
                                    stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                    check=False)
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
            pytest.fail(f"scripts/{script} failed (build/logs/{script}.log):\n{tail}")

    try:
        run("dev-up", 40 * 60)
        yield json.loads((REPO / ".dev" / "twin.json").read_text())
    finally:
        if os.environ.get("DEV_TWIN_KEEP") != "1":
            run("dev-down", 300)
            assert_twin_removed()


def assert_twin_removed() -> None:
    """What scripts/dev-down promises: no container or network of the twin, moto stopped, no
    state left in .dev."""
    def docker(*args: str) -> list[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True,
                              check=True).stdout.split()

    assert docker("ps", "-aq", "--filter", "label=org.ideation.dev=twin") == []
    assert docker("network", "ls", "-q", "--filter", "name=^ideation-dev$") == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 5000)) != 0, "moto still answers on 5000"
    assert not (REPO / ".dev").exists()
    # The twin's EC2 stand-in (scripts/twin) and its NAT rule for 169.254.169.254 are gone.
    processes = subprocess.run(["pgrep", "-f", "-a", "twin run"], capture_output=True, text=True,
                               check=False).stdout
    assert str(REPO / ".dev") not in processes, processes
    rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "PREROUTING"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert [r for r in rules if "169.254.169.254/32" in r and r.endswith(":8169")] == [], rules
