"""Every Molecule scenario of the repository, one pytest test each.

Runs `molecule test` (destroy, syntax, create, prepare, converge, idempotence, side_effect,
verify, destroy) for role scenarios (roles/<role>/molecule/<scenario>) and the multi-host ones
(molecule/<scenario>). The full log goes to build/logs/; a failure shows its last lines.
"""

from __future__ import annotations

import os
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


@pytest.mark.molecule
@pytest.mark.parametrize(("project_dir", "scenario"), _scenarios())
def test_molecule_scenario(project_dir: Path, scenario: str) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"molecule-{project_dir.name}-{scenario}.log"
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    with log.open("w") as out:
        result = subprocess.run(
            ["molecule", "test", "-s", scenario],
            cwd=project_dir, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-TAIL_LINES:])
        pytest.fail(f"molecule test -s {scenario} failed in {project_dir} (log: {log}):\n{tail}")
