"""scripts/build-app-image refuses bad arguments before it touches Docker."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "build-app-image"


@pytest.mark.parametrize(("args", "message"), [
    (["--broken", "sometimes", "x"], "--broken must be never-ready or exit, not 'sometimes'"),
    (["bad tag!"], "'bad tag!' is not a valid image tag"),
    (["-x"], "unknown option: -x"),
])
def test_bad_arguments_are_refused(args, message):
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent"})
    assert result.returncode != 0
    assert message in result.stderr


def test_help_describes_the_usage():
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "scripts/build-app-image [--broken never-ready|exit] [TAG]" in result.stdout
