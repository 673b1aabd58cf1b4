"""plugin_utils/platform_outputs.py: the SSM parameter's value and which source wins."""

from __future__ import annotations

import json

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.platform_outputs import (
    STANDARD_TIER_LIMIT,
    parameter_value,
    resolve,
)

WHERE = {
    "environment": "prod",
    "parameter": "/ideation/prod/outputs",
    "region": "eu-west-1",
    "cache_file": "/srv/checkout/.cache/outputs/prod.json",
}
OUTPUTS = {"environment": "prod", "database": {"address": "db.rds", "port": 5432}}


def test_value_is_compact_sorted_json_that_reads_back() -> None:
    shuffled = {"database": {"port": 5432, "address": "db.rds"}, "environment": "prod"}
    text = parameter_value(shuffled)
    assert text == '{"database":{"address":"db.rds","port":5432},"environment":"prod"}'
    assert text == parameter_value(OUTPUTS), "the same outputs give the same value"
    assert json.loads(text) == OUTPUTS


def test_value_over_the_standard_tier_is_refused_with_its_size() -> None:
    filler = "x" * (STANDARD_TIER_LIMIT - len(parameter_value({"environment": "prod", "f": ""})))
    assert len(parameter_value({"environment": "prod", "f": filler})) == STANDARD_TIER_LIMIT
    with pytest.raises(ValueError, match=r"prod are 4097 characters of JSON, more than the 4096"):
        parameter_value({"environment": "prod", "f": filler + "y"})


@pytest.mark.parametrize("outputs", [{}, {"environment": ""}, ["environment"], "prod"])
def test_value_needs_the_environment(outputs: object) -> None:
    with pytest.raises(ValueError, match="mapping with the environment's name"):
        parameter_value(outputs)  # type: ignore[arg-type]


def test_ssm_wins_over_the_cache() -> None:
    stale = json.dumps({"environment": "prod", "database": {"address": "old.rds"}})
    assert resolve(parameter_value(OUTPUTS), stale, **WHERE) == (OUTPUTS, "ssm")


@pytest.mark.parametrize("ssm", [None, ""])
def test_the_cache_stands_in_when_ssm_gives_nothing(ssm: str | None) -> None:
    assert resolve(ssm, json.dumps(OUTPUTS), **WHERE) == (OUTPUTS, "cache")


@pytest.mark.parametrize("cache", [None, ""])
def test_neither_says_what_to_run(cache: str | None) -> None:
    with pytest.raises(ValueError) as raised:
        resolve(None, cache, **WHERE)
    message = str(raised.value)
    assert message.startswith(
        "No provisioning outputs for prod: SSM parameter "
        "/ideation/prod/outputs (region eu-west-1) is absent"
    )
    assert "no local cache at /srv/checkout/.cache/outputs/prod.json" in message
    assert "ansible-playbook playbooks/provision.yml -i inventories/prod" in message


@pytest.mark.parametrize(
    ("ssm", "cache", "source"),
    [
        ("{not json", None, "SSM parameter /ideation/prod/outputs"),
        ("[1, 2]", None, "SSM parameter /ideation/prod/outputs"),
        (None, "<html>", "/srv/checkout/.cache/outputs/prod.json"),
    ],
)
def test_a_value_that_is_not_outputs_names_its_source(
    ssm: str | None, cache: str | None, source: str
) -> None:
    with pytest.raises(ValueError, match=f"^{source} does not hold provisioning outputs"):
        resolve(ssm, cache, **WHERE)
