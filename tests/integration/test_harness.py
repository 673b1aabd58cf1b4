"""The test harness itself: scripts/test runs pytest with two workers and `--dist loadgroup`, and
relies on it to keep every test of the dev twin (one per machine) in one worker. When that broke
(pytest 9 with pytest-xdist 3.8: the group was never applied), each worker started its own twin
on the same containers, ports and moto, and both failed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TWIN_MODULES = ("test_dev_twin.py", "test_runbooks.py")

SAMPLE = '''
import json, os, pathlib, time
import pytest
{mark}

@pytest.mark.parametrize("n", range(3))
def test_where(n):
    time.sleep(0.3)
    out = pathlib.Path(os.environ["WHERE_OUT"]) / f"{{__name__}}-{{n}}.json"
    out.write_text(json.dumps({{"module": __name__, "worker": os.environ["PYTEST_XDIST_WORKER"]}}))
'''


def test_loadgroup_keeps_a_group_in_one_worker(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    out = tmp_path / "out"
    tests.mkdir()
    out.mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("test_twin_a", "test_twin_b"):
        (tests / f"{name}.py").write_text(
            SAMPLE.format(mark='pytestmark = pytest.mark.xdist_group("dev-twin")'))
    for name in ("test_other_a", "test_other_b", "test_other_c"):
        (tests / f"{name}.py").write_text(SAMPLE.format(mark=""))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p",
         "no:cacheprovider", "-q", "tests"],
        cwd=tmp_path, env={**os.environ, "WHERE_OUT": str(out)}, capture_output=True,
        text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    where = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert len(where) == 15
    twin_workers = {w["worker"] for w in where if w["module"].startswith("test_twin")}
    assert len(twin_workers) == 1, f"the group ran in {sorted(twin_workers)}"
    # The rest is shared out as usual: both workers took tests.
    assert {w["worker"] for w in where} == {"gw0", "gw1"}


@pytest.mark.parametrize("module", TWIN_MODULES)
def test_every_twin_module_is_in_the_dev_twin_group(module: str) -> None:
    path = REPO / "tests" / "integration" / module
    spec = importlib.util.spec_from_file_location(f"_harness_{path.stem}", path)
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # dataclasses look their module up
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(path.parent))
        del sys.modules[spec.name]
    marks = loaded.pytestmark if isinstance(loaded.pytestmark, list) else [loaded.pytestmark]
    groups = [m.args[0] for m in marks if m.name == "xdist_group"]
    assert groups == ["dev-twin"], f"{module}: {marks}"


def test_the_runbook_tests_use_only_what_fleet_defines() -> None:
    """The twin's tests run late and long (about 50 min into the suite): a call to a Fleet helper
    that an edit removed (`fleet.lifecycle()`, which once cost a whole CI run) must fail here,
    in a second, instead."""
    import ast

    path = REPO / "tests" / "integration" / "test_runbooks.py"
    tree = ast.parse(path.read_text())
    fleet = next(node for node in tree.body
                 if isinstance(node, ast.ClassDef) and node.name == "Fleet")
    defined = {node.name for node in fleet.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {node.target.id for node in fleet.body
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
    used = {(node.attr, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "fleet"}
    assert used, "the runbook tests no longer use the fleet fixture; update this test"
    missing = sorted((line, attr) for attr, line in used if attr not in defined)
    assert not missing, f"test_runbooks.py uses Fleet attributes it does not define: {missing}"
