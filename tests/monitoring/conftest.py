"""Shared set-up for the monitoring tests: promtool, and the role templates rendered by Ansible.

promtool comes from Debian's `prometheus` package (CI installs it); PROMTOOL may name another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

from ansible.plugins.loader import init_plugin_loader

init_plugin_loader([str(ROOT / ".collections")])

ROLES = ROOT / "roles"


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run promtool with the given arguments; fail (not skip) when it is missing."""
    binary = os.environ.get("PROMTOOL") or shutil.which("promtool")
    assert binary, "promtool not found: install Debian's prometheus package (or set PROMTOOL)"

    def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )

    return _run


@pytest.fixture(scope="session")
def render_role_template() -> Callable[..., str]:
    """Render a role's template with its defaults (and overrides), as the template module does."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def _render(role: str, template: str, brackets: bool = False, **overrides: Any) -> str:
        loader = DataLoader()
        variables = loader.load_from_file(
            str(ROLES / role / "defaults" / "main.yml"), trusted_as_template=True
        )
        for name in ("vars/main.yml",):
            variables.update(
                loader.load_from_file(str(ROLES / role / name), trusted_as_template=True)
            )
        variables.update(overrides)
        variables.setdefault("ansible_managed", "Ansible managed")
        source = (ROLES / role / "templates" / template).read_text()
        settings = {"trim_blocks": True}
        if brackets:
            settings.update(variable_start_string="[[", variable_end_string="]]")
        templar = Templar(loader=loader, variables=variables)
        return templar.template(
            trust_as_template(source), escape_backslashes=False, overrides=settings
        )

    return _render
