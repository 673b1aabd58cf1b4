"""execution-environment.yml makes a build context that installs what this project is tested with.

`ansible-builder create` (no container runtime, no network) writes the Containerfile and the
files it copies. The context must carry ansible-core as pinned in requirements.txt, the Python
packages with the same ranges as requirements.txt, the collections of requirements.yml (with the
versions galaxy.yml depends on) and bindep.txt. docs/awx.md says how to build and use the image.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def pins(text: str) -> dict[str, str]:
    """Package name -> version range of a pip requirements text (comments and blanks skipped)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            found[req.name.lower()] = str(req.specifier)
    return found


def test_pins_reads_ranges_and_skips_comments() -> None:
    text = "# header\nansible-core>=2.19,<2.20   # note\n\nmolecule-plugins[docker]>=25.8,<27\n"
    assert pins(text) == {"ansible-core": "<2.20,>=2.19", "molecule-plugins": "<27,>=25.8"}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    beside_python = Path(sys.executable).parent / "ansible-builder"
    builder = str(beside_python) if beside_python.exists() else shutil.which("ansible-builder")
    assert builder, "ansible-builder is in requirements.txt: scripts/ensure-venv installs it"
    out = tmp_path_factory.mktemp("ee") / "context"
    result = subprocess.run(
        [builder, "create", "-f", "execution-environment.yml", "-c", str(out),
         "--output-filename", "Containerfile"],
        cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _build_arg(containerfile: str, name: str) -> str:
    match = re.search(rf'^ARG {name}="([^"]*)"$', containerfile, re.MULTILINE)
    assert match, f"no ARG {name} in the Containerfile"
    return match.group(1)


def test_context_installs_ansible_core_as_pinned(context: Path) -> None:
    containerfile = (context / "Containerfile").read_text()
    refs = pins("\n".join(_build_arg(containerfile, "ANSIBLE_INSTALL_REFS").split()))
    project = pins((REPO / "requirements.txt").read_text())
    assert refs["ansible-core"] == project["ansible-core"]
    assert "ansible-runner" in refs  # AWX runs every job through ansible-runner
    # ansible-core 2.19 refuses a controller Python older than 3.11.
    python = _build_arg(containerfile, "PYCMD")
    version = tuple(int(p) for p in re.findall(r"python(\d+)\.(\d+)$", python)[0])
    assert version >= (3, 11), python


def test_context_python_packages_match_requirements_txt(context: Path) -> None:
    in_context = pins((context / "_build/requirements.txt").read_text())
    project = pins((REPO / "requirements.txt").read_text())
    assert {"boto3", "botocore"} <= in_context.keys()
    assert {name: project.get(name) for name in in_context} == in_context


def test_context_collections_are_those_of_requirements_yml(context: Path) -> None:
    in_context = yaml.safe_load((context / "_build/requirements.yml").read_text())
    assert in_context == yaml.safe_load((REPO / "requirements.yml").read_text())
    wanted = {c["name"]: c["version"] for c in in_context["collections"]}
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert wanted == galaxy["dependencies"]


def test_context_system_packages_are_bindep_txt(context: Path) -> None:
    bindep = (context / "_build/bindep.txt").read_text()
    assert bindep == (REPO / "bindep.txt").read_text()
    assert "openssh-client" in bindep  # every host is reached over SSH


def test_context_has_the_builder_scripts(context: Path) -> None:
    scripts = {p.name for p in (context / "_build/scripts").iterdir()}
    assert {"assemble", "introspect.py", "install-from-bindep", "entrypoint"} <= scripts
