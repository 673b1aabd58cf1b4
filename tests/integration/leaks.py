"""The leak check every test that runs Ansible with secrets uses: run at -vvv (module arguments,
results and connection details all printed), it fails when the output is empty or was not
verbose, so that a check that captured nothing cannot pass."""

from __future__ import annotations

from collections.abc import Iterable

# What only -vvv prints, for every task: the connection each one opens.
VERBOSE_MARK = "ESTABLISH LOCAL CONNECTION"


def assert_no_secret_in(output: str, values: Iterable[str]) -> None:
    """No value of ``values`` occurs in ``output``, which must come from a -vvv run."""
    values = list(values)
    assert values and all(len(v) >= 8 for v in values), "no secret (or a short one) to look for"
    assert output.strip(), "the leak check captured no output at all"
    assert VERBOSE_MARK in output, "the leak check needs the output of a -vvv run"
    leaked = [v[:4] + "..." for v in values if v in output]
    assert leaked == [], f"secret values in the output: {leaked}"
