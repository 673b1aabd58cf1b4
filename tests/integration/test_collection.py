"""The repository is a working collection and a working playbook project.

- `ansible-galaxy collection build` makes an artifact that installs, and from the installed copy
  (not the work tree) roles and filters resolve by FQCN and role argument specs are enforced.
- Every playbook passes `--syntax-check` against every shipped inventory (whose aws_ec2 plugin
  talks to a moto server on 127.0.0.1, never to AWS).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = sorted(p.name for p in (REPO / "inventories").iterdir() if p.is_dir())
# Task files that playbooks import (under provision/ and runbooks/tasks/) are not playbooks.
TASK_FILES = ("/provision/", "/runbooks/tasks/")
PLAYBOOKS = ["site.yml", *sorted(str(p.relative_to(REPO)) for p in REPO.glob("playbooks/**/*.yml")
                                 if not any(part in str(p) for part in TASK_FILES))]


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the collection artifact and install it into an empty collections path."""
    work = tmp_path_factory.mktemp("collection")
    build = _run(["ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(work)],
                 cwd=work)
    assert build.returncode == 0, build.stderr
    (artifact,) = work.glob("ideation-platform-*.tar.gz")
    install_path = work / "collections"
    # --force: ansible-galaxy skips a collection it finds in any configured path (for example one
    # that ansible-lint or Molecule installed under ~/.ansible), and the path must hold this build.
    install = _run(["ansible-galaxy", "collection", "install", str(artifact), "--no-deps",
                    "--force", "-p", str(install_path)], cwd=work)
    assert install.returncode == 0, install.stderr
    assert (install_path / "ansible_collections/ideation/platform/roles/common/tasks").is_dir(), (
        install.stdout)
    assert not (install_path / "ansible_collections/ideation/platform/.collections").exists()
    return install_path


def _installed_env(install_path: Path, cwd: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Only the installed artifact (and the ansible package's bundled collections) may resolve.
    env["ANSIBLE_COLLECTIONS_PATH"] = str(install_path)
    env["ANSIBLE_CONFIG"] = str(cwd / "ansible.cfg")
    (cwd / "ansible.cfg").write_text("[defaults]\nroles_path = /nonexistent\n")
    return env


def test_installed_filters_work_by_fqcn(installed_collection: Path, tmp_path: Path) -> None:
    env = _installed_env(installed_collection, tmp_path)
    result = _run(["ansible", "localhost", "-m", "ansible.builtin.debug", "-a",
                   "msg={{ '10.0.0.0/16' | ideation.platform.cidr_subnet(8, 10) }}"],
                  cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"msg": "10.0.10.0/24"' in result.stdout


def test_installed_role_enforces_its_argument_spec(installed_collection: Path,
                                                   tmp_path: Path) -> None:
    env = _installed_env(installed_collection, tmp_path)
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n"
        "    - role: ideation.platform.common\n      common_operators: not-a-list\n"
    )
    result = _run(["ansible-playbook", str(playbook)], cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert "common_operators" in result.stdout
    assert "list" in result.stdout


def test_role_docs_render_from_the_installed_collection(installed_collection: Path,
                                                        tmp_path: Path) -> None:
    env = _installed_env(installed_collection, tmp_path)
    result = _run(["ansible-doc", "-t", "role", "ideation.platform.common"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "common_node_exporter_listen_address" in result.stdout


@pytest.mark.integration
@pytest.mark.parametrize("inventory", INVENTORIES)
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax(moto_server, inventory: str, playbook: str) -> None:
    result = _run(
        ["ansible-playbook", "--syntax-check", "-i", f"inventories/{inventory}", playbook],
        cwd=REPO,
        env=moto_server.env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
