"""Run provision.yml, teardown.yml and ansible-inventory against a test module's moto server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ansible.plugins.loader import init_plugin_loader

REPO = Path(__file__).resolve().parents[3]
# The collection's pure Python (plugin_utils) importable by the tests, as the unit tests have it;
# once per session, whichever conftest comes first.
if not any(type(f).__name__ == "_AnsibleCollectionFinder" for f in sys.meta_path):
    init_plugin_loader([str(REPO / ".collections")])
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
RECAP = re.compile(
    r"^localhost\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.MULTILINE,
)
# An image named like Debian's, registered in moto by the tests (moto ships none).
TEST_IMAGE_NAME = "debian-12-amd64-20250610-2140"
# The alert topic's subscriber in every run (example.com: nothing is ever sent).
ALERT_EMAIL = "ops@example.com"


@dataclass
class Run:
    """One ansible command: its exit code, output, PLAY RECAP counts and wall time."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def recap(self) -> dict[str, int]:
        found = list(RECAP.finditer(self.stdout))
        assert found, f"no PLAY RECAP in output:\n{self.tail()}"
        return {k: int(v) for k, v in found[-1].groupdict().items()}

    @property
    def changed(self) -> int:
        return self.recap["changed"]

    def tail(self, lines: int = 80) -> str:
        return "\n".join((self.stdout + "\n" + self.stderr).splitlines()[-lines:])

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change (for failure messages)."""
        names, current = [], None
        for line in self.stdout.splitlines():
            if line.startswith("TASK ["):
                current = line[6 : line.rfind("]")]
            elif line.startswith("changed:") and current and current not in names:
                names.append(current)
        return names


class Ansible:
    """ansible-playbook and friends, pointed at one moto server, with their own caches."""

    def __init__(self, moto: Any, workdir: Path) -> None:
        self.moto = moto
        self.workdir = workdir
        self.outputs = workdir / "outputs"
        self.cache = workdir / "inventory-cache"

    def env(self) -> dict[str, str]:
        env = self.moto.env()
        env.update(
            ANSIBLE_INVENTORY_CACHE_CONNECTION=str(self.cache),
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(self.workdir / "fact-cache"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            PYTHONWARNINGS="ignore",
        )
        return env

    def extra_vars(self) -> list[str]:
        """What every run against moto passes: the endpoint, the outputs dir, the test image,
        and an alert subscriber (prod and staging refuse to provision without one)."""
        extra = {
            "aws_endpoint_url": self.moto.url,
            "aws_outputs_dir": str(self.outputs),
            "aws_ami_owners": ["self"],
            "aws_alert_emails": [ALERT_EMAIL],
        }
        return ["-e", json.dumps(extra)]

    def run(self, tool: str, *args: str, timeout: int = 1800) -> Run:
        argv = [str(VENV_BIN / tool), *args]
        started = time.monotonic()
        proc = subprocess.run(
            argv,
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            stdin=subprocess.DEVNULL,  # never a terminal: prompts (teardown's) get no answer
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)

    def playbook(self, playbook: str, env: str, *args: str) -> Run:
        return self.run(
            "ansible-playbook",
            f"playbooks/{playbook}",
            "-i",
            f"inventories/{env}",
            *self.extra_vars(),
            *args,
        )

    def inventory(self, env: str, *args: str) -> dict[str, Any]:
        """ansible-inventory --list, with 2.19's {"__ansible_unsafe": value} wrappers removed."""
        result = self.run("ansible-inventory", "-i", f"inventories/{env}", "--list", *args)
        assert result.returncode == 0, result.tail()
        return json.loads(result.stdout, object_hook=_unwrap_unsafe)


def _unwrap_unsafe(value: dict[str, Any]) -> Any:
    return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else value


def register_test_image(moto: Any) -> str:
    """Give moto an image named like Debian 12's, owned by the test account."""
    ec2 = moto.client("ec2")
    source = ec2.describe_images(Owners=["amazon", "099720109477"])["Images"][0]["ImageId"]
    return ec2.copy_image(SourceImageId=source, SourceRegion=moto.region, Name=TEST_IMAGE_NAME)[
        "ImageId"
    ]


def import_dev_key_pair(moto: Any) -> None:
    """The operator's step before provisioning dev (scripts/dev-up does it): its key pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    moto.client("ec2").import_key_pair(KeyName="ideation-dev", PublicKeyMaterial=public)


@pytest.fixture(scope="module")
def ansible(moto_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    """An Ansible runner for the module's moto server, with the test image registered."""
    register_test_image(moto_server)
    import_dev_key_pair(moto_server)
    return Ansible(moto_server, tmp_path_factory.mktemp("ansible"))
