"""Shared set-up for the unit tests: the collection on the import path, data loaders, Templar.

The collection resolves through the committed link ``.collections/ansible_collections/ideation/
platform`` -> repository root. Ansible's collection loader is installed once, before any test
module imports ``ansible_collections.*``, so pure imports and Jinja filter lookups share it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

from ansible.plugins.loader import init_plugin_loader

init_plugin_loader([str(COLLECTIONS)])

settings.register_profile(
    "project", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "project"))

ENVIRONMENTS = ("prod", "staging", "dev")


def network_file(env: str) -> Path:
    """The network data file of one environment."""
    return ROOT / "inventories" / env / "group_vars" / "all" / "network.yml"


def network_overrides_file(env: str) -> Path:
    """What an environment overrides of prod's network (staging, dev); read after network.yml."""
    return ROOT / "inventories" / env / "group_vars" / "all" / "network_env.yml"


def load_network(env: str) -> dict[str, Any]:
    """An environment's network variables as plain Python, as Ansible merges its group_vars
    (network.yml, then network_env.yml), with the matrix's one template
    (``named_cidrs: "{{ network_named_cidrs }}"``) resolved the way Ansible would."""
    data = yaml.safe_load(network_file(env).read_text())
    overrides = network_overrides_file(env)
    if overrides.exists():
        data.update(yaml.safe_load(overrides.read_text()))
    matrix = data["network_security_groups"]
    assert matrix["named_cidrs"] == "{{ network_named_cidrs }}"
    matrix["named_cidrs"] = data["network_named_cidrs"]
    return data


@pytest.fixture
def network() -> Callable[[str], dict[str, Any]]:
    return load_network


@pytest.fixture
def render() -> Callable[..., Any]:
    """Template one expression with real Ansible templating, variables given as keywords."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def _render(expression: str, **variables: Any) -> Any:
        templar = Templar(loader=DataLoader(), variables=variables)
        return templar.template(trust_as_template(expression))

    return _render


@pytest.fixture
def env_templar() -> Callable[[str], Any]:
    """A Templar holding an environment's network variables exactly as Ansible loads them."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    def _make(env: str) -> Any:
        loader = DataLoader()
        variables = dict(loader.load_from_file(str(network_file(env)), trusted_as_template=True))
        overrides = network_overrides_file(env)
        if overrides.exists():
            variables.update(loader.load_from_file(str(overrides), trusted_as_template=True))
        return Templar(loader=loader, variables=variables)

    return _make


@pytest.fixture
def jinja_filter(render: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``ideation.platform.<name>`` through Jinja: ``value | name(*args, **kwargs)``."""

    def _call(name: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        expression = f"{{{{ _value | ideation.platform.{name}(*_args, **_kwargs) }}}}"
        return render(expression, _value=value, _args=list(args), _kwargs=kwargs)

    return _call


@pytest.fixture
def rejected_by_filter(jinja_filter: Callable[..., Any]) -> Callable[..., str]:
    """Assert that the filter, called through Jinja, fails with ``message`` and no other error:
    the user sees AnsibleFilterError's text, naming the filter."""
    from ansible.errors import AnsibleError, AnsibleFilterError

    def _check(message: str, name: str, value: Any, *args: Any, **kwargs: Any) -> str:
        with pytest.raises(AnsibleError) as caught:
            jinja_filter(name, value, *args, **kwargs)
        error = caught.value
        causes = [error]
        while causes[-1].__cause__ is not None:
            causes.append(causes[-1].__cause__)  # type: ignore[arg-type]
        assert any(isinstance(cause, AnsibleFilterError) for cause in causes), causes
        assert not any(isinstance(c, (ValueError, TypeError, KeyError)) for c in causes), causes
        assert f"ideation.platform.{name}: " in str(error)
        assert message in str(error), str(error)
        return str(error)

    return _check
