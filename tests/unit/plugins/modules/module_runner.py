"""Run one of this collection's modules in-process and return its JSON result.

`run_module(module, args, capsys)` calls the module's main() with the given arguments (check and
diff mode through `_ansible_check_mode` / `_ansible_diff`) and returns the result, whether the
module exited or failed.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest


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
