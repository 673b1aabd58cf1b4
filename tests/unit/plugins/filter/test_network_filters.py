"""The four filters as users meet them: Ansible templating, the ansible CLI, and ansible-doc."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.ideation.platform.plugins.plugin_utils.network_render import render
from ansible_collections.ideation.platform.plugins.plugin_utils.sg_matrix import (
    build_matrix,
    sg_rules,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.subnets import plan_subnets

ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_BIN = ROOT / ".venv" / "bin"
FILTERS = ("cidr_subnet", "subnet_plan", "sg_rules", "sg_render")


def _template(templar: Any, expression: str) -> Any:
    from ansible.template import trust_as_template

    return templar.template(trust_as_template(expression))


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_inventory_data_through_ansible(
    env: str, env_templar: Callable[[str], Any], network: Callable[[str], dict[str, Any]]
) -> None:
    """Templated as Ansible loads group_vars (the matrix's named_cidrs template included), the
    filters give what the pure functions give for the same data."""
    templar = env_templar(env)
    data = network(env)
    prefix = f"ideation-{env}-"
    subnets = _template(
        templar,
        "{{ network_vpc_cidr | ideation.platform.subnet_plan(network_tiers, network_zones) }}",
    )
    assert subnets == plan_subnets(
        data["network_vpc_cidr"], data["network_tiers"], data["network_zones"]
    )
    rules = _template(
        templar, f"{{{{ network_security_groups | ideation.platform.sg_rules('{prefix}') }}}}"
    )
    assert rules == sg_rules(data["network_security_groups"], prefix)
    admin = data["network_named_cidrs"]["admin"]
    assert any(r.get("cidr_ip") == admin for g in rules for r in g["rules"])
    page = _template(
        templar,
        "{{ network_security_groups | ideation.platform.sg_render(title='T', name_prefix='p-') }}",
    )
    assert page == render(
        build_matrix(data["network_security_groups"]), "markdown", title="T", prefix="p-"
    )


def test_prod_subnets_through_ansible(env_templar: Callable[[str], Any]) -> None:
    subnets = _template(
        env_templar("prod"),
        "{{ network_vpc_cidr | ideation.platform.subnet_plan(network_tiers, network_zones)"
        " | map(attribute='cidr') | list }}",
    )
    assert subnets == [
        "10.0.1.0/24",
        "10.0.2.0/24",
        "10.0.10.0/24",
        "10.0.11.0/24",
        "10.0.20.0/24",
        "10.0.21.0/24",
    ]


def test_cidr_subnet_through_ansible(render: Callable[..., Any]) -> None:
    assert render("{{ '10.0.0.0/16' | ideation.platform.cidr_subnet(8, 2) }}") == "10.0.2.0/24"
    assert render("{{ p | ideation.platform.cidr_subnet(n, 6) }}", p="fe80::/48", n=16) == (
        "fe80:0:0:6::/64"
    )


def test_sg_render_options_through_ansible(
    jinja_filter: Callable[..., Any], rejected_by_filter: Callable[..., str]
) -> None:
    matrix = {"groups": [{"name": "a", "description": "A"}]}
    assert jinja_filter("sg_render", matrix, format="dot").startswith('digraph "Network" {')
    assert jinja_filter("sg_render", matrix, "markdown", title="X").startswith("# X\n")
    rejected_by_filter("format must be one of markdown, dot", "sg_render", matrix, "svg")
    rejected_by_filter("title must be a string", "sg_render", matrix, title=3)
    rejected_by_filter("name_prefix must be a string", "sg_render", matrix, name_prefix=None)
    rejected_by_filter("preamble must be a string", "sg_render", matrix, preamble=[])
    rejected_by_filter("subnets must be the list", "sg_render", matrix, subnets="10.0.0.0/24")
    rejected_by_filter("each subnet needs", "sg_render", matrix, subnets=[{"cidr": "x"}])


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "NO_COLOR": "1"}
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, env=environment
    )


def _debug(message: str) -> subprocess.CompletedProcess[str]:
    return _run(
        str(ANSIBLE_BIN / "ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        "ansible.builtin.debug",
        "-a",
        f"msg={message}",
    )


def test_cli_shows_the_result() -> None:
    result = _debug("{{ '10.0.0.0/16' | ideation.platform.cidr_subnet(8, 20) }}")
    assert result.returncode == 0, result.stderr
    assert "10.0.20.0/24" in result.stdout


def test_cli_shows_the_message_not_a_traceback() -> None:
    result = _debug(
        "{{ '10.0.0.0/16' | ideation.platform.subnet_plan([{'name': 'web', 'prefix': 29}], ['a'])"
        " }}"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "ideation.platform.subnet_plan: tier 'web': /29 is smaller than the /28 AWS allows"
        in output
    )
    assert "Traceback" not in output


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_renders(name: str) -> None:
    result = _run(str(ANSIBLE_BIN / "ansible-doc"), "-t", "filter", f"ideation.platform.{name}")
    assert result.returncode == 0, result.stderr
    assert f"ideation.platform.{name}" in result.stdout
    assert "EXAMPLES" in result.stdout and "RETURN VALUES" in result.stdout
    assert "ERROR" not in result.stderr.upper()


def test_cidr_subnet_examples_show_real_results(render: Callable[..., Any]) -> None:
    """Every ``msg: "{{ ... }}"  # result`` line of the documented examples holds."""
    from ansible_collections.ideation.platform.plugins.filter import cidr_subnet as plugin

    pairs = re.findall(r'msg: "(\{\{.*\}\})"\s+# (\S+)', plugin.EXAMPLES)
    assert len(pairs) == 2
    for expression, expected in pairs:
        assert render(expression) == expected


def test_sg_rules_example_shows_the_real_first_item() -> None:
    """The matrix in the sg_rules EXAMPLES gives exactly the first item documented below it."""
    from ansible_collections.ideation.platform.plugins.filter import sg_rules as plugin

    lines = plugin.EXAMPLES.splitlines()
    start = lines.index("#   network_security_groups:")
    task = next(i for i, line in enumerate(lines) if line.startswith("- name:"))
    result = next(i for i, line in enumerate(lines) if line.startswith("# The first item is"))
    matrix = yaml.safe_load("\n".join(line[4:] for line in lines[start:task]))
    documented = yaml.safe_load("\n".join(line[2:] for line in lines[result + 1 :]))
    matrix = matrix["network_security_groups"]
    matrix["named_cidrs"] = {"admin": "203.0.113.10/32"}
    assert plugin.sg_rules(matrix, name_prefix="ideation-prod-")[0] == documented


def test_subnet_plan_example_shows_the_real_plan(jinja_filter: Callable[..., Any]) -> None:
    plan = jinja_filter("subnet_plan", "10.0.0.0/16", [{"name": "app", "hosts": 100}], ["a", "b"])
    documented = [("app-a", "10.0.0.0/25", 123), ("app-b", "10.0.0.128/25", 123)]
    assert [(s["name"], s["cidr"], s["usable_hosts"]) for s in plan] == documented
