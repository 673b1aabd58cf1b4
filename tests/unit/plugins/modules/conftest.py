"""Run this collection's modules in-process against moto's mock_aws.

`run_module(module, args)` calls the module's main() with the given arguments (check and diff
mode through `_ansible_check_mode` / `_ansible_diff`) and returns its JSON result, whether it
exited or failed. moto gets the fidelity patches from tests/integration/moto_server.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def _load_fidelity_patches() -> ModuleType:
    path = REPO / "tests" / "integration" / "moto_server.py"
    spec = importlib.util.spec_from_file_location("ideation_moto_server", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_load_fidelity_patches().apply_fidelity_patches()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials, no endpoint override, and moto's in-process mock of AWS."""
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_URL", "EC2_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def run_module(
    module: ModuleType,
    args: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    check_mode: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """Run module.main() with args and return the parsed result (failed results included)."""
    from ansible.module_utils.testing import patch_module_args

    full = {"region": "us-east-1", **args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    capsys.readouterr()
    with patch_module_args(full), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])


def warnings_of(result: dict[str, Any]) -> list[str]:
    """The warning texts of a result (ansible-core 2.19 wraps each in a summary dict)."""
    texts = []
    for warning in result.get("warnings", []):
        if isinstance(warning, dict):
            warning = warning.get("event", {}).get("msg", "")
        texts.append(str(warning))
    return texts
