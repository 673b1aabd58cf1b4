"""The README's commands work as printed on a root-only machine (no sudo there), and its links
and the galaxy.yml project links point at files and one project."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.DOTALL)


def test_the_two_commands_are_scripts_run_without_sudo() -> None:
    section = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    (block,) = _code_blocks(section)
    commands = [line.split("#", 1)[0].split() for line in block.splitlines() if line.strip()]
    assert [c[0] for c in commands] == ["scripts/dev-up", "scripts/test"]
    assert all(os.access(ROOT / c[0], os.X_OK) for c in commands)


def test_no_doc_prints_sudo_before_a_script() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = [f"{p.relative_to(ROOT)}: {line.strip()}" for p in docs
             for line in p.read_text().splitlines()
             if re.search(r"(^|[`;&|]\s*)sudo scripts/", line.strip())]
    assert found == []


def test_readme_links_to_existing_files() -> None:
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", README)
    assert "docs/operator-policy.json" in links and "docs/awx.md" in links
    assert [link for link in links if not (ROOT / link).exists()] == []


def test_galaxy_links_name_one_project() -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    repository = galaxy["repository"]
    assert repository.startswith("https://github.com/")
    assert "example" not in repository and "invalid" not in repository
    for key in ("homepage", "documentation", "issues"):
        assert galaxy[key].startswith(repository), key
    assert repository in (ROOT / "docs/awx.md").read_text()
