"""The repository is a working collection and a working playbook project.

- `ansible-galaxy collection build` makes an artifact that holds what a collection user needs
  and nothing of this checkout's environments, tooling or tests (galaxy.yml's build_ignore), and
  that installs; from the installed copy (not the work tree) roles, filters and the site playbook
  resolve by FQCN, role argument specs are enforced and `group/ideation.platform.aws`
  module_defaults reach the modules (meta/runtime.yml's action_groups).
- Every playbook passes `--syntax-check` against every shipped inventory (whose aws_ec2 plugin
  talks to a moto server on 127.0.0.1, never to AWS).
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = sorted(p.name for p in (REPO / "inventories").iterdir() if p.is_dir())
# Task files that playbooks import (under provision/, runbooks/tasks/, bake/) are not playbooks;
# playbooks/site.yml is checked through site.yml, which only imports it.
TASK_FILES = ("/provision/", "/runbooks/tasks/", "/bake/")
PLAYBOOKS = ["site.yml", *sorted(f"playbooks/{p}" for p in (
    p.relative_to(REPO / "playbooks") for p in REPO.glob("playbooks/**/*.yml"))
    if not any(part in f"/{p}" for part in TASK_FILES) and str(p) != "site.yml")]


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


# Never in the artifact: the real environments (domains, admin CIDR, sizes), this checkout's
# tooling and configuration (data/: scripts/cost-report's prices), tests, Molecule scenarios,
# the dev twin, caches.
FORBIDDEN = ("inventories/", "scripts/", "images/", "benchmarks/", "examples/", ".config/",
             "ansible.cfg", "tests/", "molecule/", ".dev/", ".cache/", ".venv/", ".collections/",
             ".ci/", "playbooks/dev/", "requirements.txt", "pyproject.toml",
             "execution-environment.yml", "data/")
FORBIDDEN_DIRS = ("molecule", "tests")
# What a user of the collection needs.
REQUIRED = ("README.md", "LICENSE", "CHANGELOG.md", "changelogs/changelog.yaml", "MANIFEST.json",
            "FILES.json", "meta/runtime.yml", "meta/execution-environment.yml",
            "meta/ee-requirements.txt", "bindep.txt", "roles/common/tasks/main.yml",
            "roles/common/meta/argument_specs.yml", "roles/nginx/README.md",
            "plugins/modules/acm_certificate_request.py",
            "plugins/modules/elasticache_replication_group.py", "plugins/filter/sg_rules.py",
            "plugins/plugin_utils/sg_matrix.py", "playbooks/site.yml", "playbooks/provision.yml",
            "playbooks/runbooks/patch.yml", "docs/runbooks/README.md")


def forbidden_members(names: list[str]) -> list[str]:
    """The artifact members that are or lie under a FORBIDDEN path, or under a directory of
    FORBIDDEN_DIRS at any depth (roles/*/molecule/)."""
    def forbidden(name: str) -> bool:
        return (any(name == f.rstrip("/") or (f.endswith("/") and name.startswith(f))
                    for f in FORBIDDEN)
                or any(d in name.split("/")[:-1] or name.endswith(f"/{d}") or name == d
                       for d in FORBIDDEN_DIRS))
    return sorted(n for n in names if forbidden(n))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the collection artifact from the work tree."""
    work = tmp_path_factory.mktemp("collection")
    build = _run(["ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(work)],
                 cwd=work)
    assert build.returncode == 0, build.stderr
    (built,) = work.glob("ideation-platform-*.tar.gz")
    return built


def test_forbidden_members_finds_nested_paths() -> None:
    names = ["roles/nginx/molecule/default/molecule.yml", "roles/nginx/tasks/main.yml",
             "inventories", "docs/network.md", "tests", "my_tests/x.py", "playbooks/dev",
             "ansible.cfg", "docs/ansible.cfg", "meta/execution-environment.yml",
             "roles/bastion/examples/x.yml", "roles/nginx/molecule", "inventories/prod/x.yml"]
    assert forbidden_members(names) == [
        "ansible.cfg", "inventories", "inventories/prod/x.yml", "playbooks/dev",
        "roles/nginx/molecule", "roles/nginx/molecule/default/molecule.yml", "tests"]


def test_artifact_holds_only_what_a_user_needs(artifact: Path) -> None:
    with tarfile.open(artifact) as tar:
        names = [m.name.removeprefix("./") for m in tar.getmembers()]
    assert forbidden_members(names) == []
    assert [r for r in REQUIRED if r not in names] == []
    # Every role ships, and none without its tasks.
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
    assert [r for r in roles if f"roles/{r}/tasks/main.yml" not in names] == []


@pytest.fixture(scope="module")
def installed_collection(artifact: Path) -> Path:
    """Install the built artifact into an empty collections path."""
    work = artifact.parent
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


def test_site_playbook_runs_by_fqcn(installed_collection: Path, tmp_path: Path) -> None:
    """`ansible-playbook ideation.platform.site` finds playbooks/site.yml and its tier imports."""
    env = _installed_env(installed_collection, tmp_path)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    bastion: {hosts: {b1: {}}}\n    nginx: {hosts: {n1: {}}}\n"
        "    api: {hosts: {a1: {}}}\n    celery: {hosts: {c1: {}}}\n"
        "    monitoring: {hosts: {m1: {}}}\n")
    result = _run(["ansible-playbook", "ideation.platform.site", "-i", "hosts.yml", "--list-tasks"],
                  cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    plays = re.findall(r"play #\d+ \([^)]*\)", result.stdout)
    assert plays == ["play #1 (bastion)", "play #2 (bastion)", "play #3 (all:!bastion)",
                     "play #4 (monitoring)", "play #5 (nginx)", "play #6 (api)",
                     "play #7 (celery)"], result.stdout
    assert "ideation.platform.nginx : " in result.stdout


def test_module_defaults_group_reaches_the_modules(installed_collection: Path,
                                                   tmp_path: Path) -> None:
    """A bad value set only through group/ideation.platform.aws is what each module rejects: the
    group's defaults reached it (and no AWS call is made, the arguments fail first)."""
    env = _installed_env(installed_collection, tmp_path)
    playbook = tmp_path / "play.yml"
    playbook.write_text("""\
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/ideation.platform.aws:
      state: from-the-group
  tasks:
    - ideation.platform.acm_certificate_request:
        domain_name: example.com
      ignore_errors: true
      register: acm
    - ideation.platform.elasticache_replication_group:
        replication_group_id: x
      ignore_errors: true
      register: cache
    - ansible.builtin.assert:
        that:
          - "'from-the-group' in acm.msg"
          - "'from-the-group' in cache.msg"
        fail_msg: "{{ acm.msg }} / {{ cache.msg }}"
""")
    result = _run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
                  cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout and "ignored=2" in result.stdout, result.stdout


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
