"""Every Molecule scenario of the repository, one pytest test each.

Runs `molecule test` (destroy, syntax, create, prepare, converge, idempotence, side_effect,
verify, destroy) for role scenarios (roles/<role>/molecule/<scenario>) and the multi-host ones
(molecule/<scenario>). The full log goes to build/logs/; a failure shows its last lines.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "build" / "logs"
TAIL_LINES = 150


def _scenarios() -> list:
    found = []
    for molecule_yml in sorted(REPO.glob("roles/*/molecule/*/molecule.yml")):
        role_dir = molecule_yml.parents[2]
        found.append(pytest.param(role_dir, molecule_yml.parent.name,
                                  id=f"{role_dir.name}-{molecule_yml.parent.name}"))
    for molecule_yml in sorted(REPO.glob("molecule/*/molecule.yml")):
        found.append(pytest.param(REPO, molecule_yml.parent.name, id=molecule_yml.parent.name))
    return found


# Test secrets the scenarios plant in their variables. None may appear in what the roles under
# test print (converge, idempotence, side_effect); the scenarios' own fixture plays (prepare)
# and the verifier may show them.
PLANTED_SECRETS = (
    "molecule-db-secret-4f1c", "molecule-redis-secret-9d2e", "molecule-flower-secret-77",
    "apptier-db-secret-7b21", "apptier-redis-secret-3c88", "apptier-console-secret",
    "apptier-exporter-secret", "apptier-master-secret", "molecule-not-a-secret",
    "molecule-admin-password", "molecule-grafana-secret-key", "master-secret", "admin-secret",
    "app-secret", "molecule-jwt-secret-5b7e0c2a9d41f63e8a1b", "molecule-api-key-3c8f1e6d20a9",
)
ROLE_ACTIONS = ("converge", "idempotence", "side_effect")
# What only -vvv prints, once per task: the connection it opens (docker, local, ssh). The leak
# check needs it, or it could pass on an output that never showed a module's arguments.
VERBOSE_MARK = re.compile(r"ESTABLISH \w+ CONNECTION")
# Molecule's action lines, without colours: "INFO     [default > converge] Executing" (or, from
# some versions, "INFO     default ➜ converge: Executing").
ACTION = re.compile(r"^INFO\s+(?:\[[^\]]* > (\w+)\]|\S+ ➜ (\w+):) Executing$")


def role_output(log: str) -> list[str]:
    """The lines Molecule's converge, idempotence and side_effect actions printed."""
    lines, keep = [], False
    for line in log.splitlines():
        action = ACTION.match(line)
        if action:
            keep = (action.group(1) or action.group(2)) in ROLE_ACTIONS
        elif keep:
            lines.append(line)
    return lines


def test_role_output_keeps_the_role_actions_only() -> None:
    log = ("INFO     [default > prepare] Executing\nprepare-line\n"
           "INFO     [default > converge] Executing\nconverge-line\n"
           "INFO     [default > verify] Executing\nverify-line\n"
           "INFO     [default > side_effect] Executing\nside-line\n"
           "INFO     default ➜ idempotence: Executing\nidempotence-line\n"
           "INFO     default ➜ destroy: Executing\ndestroy-line\n")
    assert role_output(log) == ["converge-line", "side-line", "idempotence-line"]


@pytest.mark.molecule
@pytest.mark.parametrize(("project_dir", "scenario"), _scenarios())
def test_molecule_scenario(project_dir: Path, scenario: str) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"molecule-{project_dir.name}-{scenario}.log"
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
               ANSIBLE_VERBOSITY="3")
    with log.open("w") as out:
        result = subprocess.run(
            ["molecule", "test", "-s", scenario],
            cwd=project_dir, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-TAIL_LINES:])
        pytest.fail(f"molecule test -s {scenario} failed in {project_dir} (log: {log}):\n{tail}")
    output = role_output(log.read_text(errors="replace"))
    assert output, f"the leak check captured no output of the role's actions (log: {log})"
    assert any(VERBOSE_MARK.search(line) for line in output), f"no -vvv output in {log}"
    leaks = [line for line in output if any(secret in line for secret in PLANTED_SECRETS)]
    assert not leaks, f"a role printed a test secret (log: {log}):\n" + "\n".join(leaks[:20])
