"""secretsmanager_secret_stage: the label moves (pure) and the module against moto's mock_aws."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.ideation.platform.plugins.modules import (
    secretsmanager_secret_stage as module,
)
from module_runner import run_module

NAME = "ideation/db/password"


def test_promote_moves_current_to_pending_and_unlabels_it():
    stages = {"old": ["AWSPREVIOUS"], "cur": ["AWSCURRENT"], "new": ["AWSPENDING"]}
    moves = module.promote_moves(stages)
    assert moves == [
        {"VersionStage": "AWSCURRENT", "MoveToVersionId": "new", "RemoveFromVersionId": "cur"},
        {"VersionStage": "AWSPENDING", "RemoveFromVersionId": "new"},
    ]
    assert module.apply_moves(stages, moves) == {
        "old": [],
        "cur": ["AWSPREVIOUS"],
        "new": ["AWSCURRENT"],
    }


def test_promote_without_a_pending_version_does_nothing():
    assert module.promote_moves({"cur": ["AWSCURRENT"], "old": ["AWSPREVIOUS"]}) == []


def test_promote_when_current_is_already_pending_only_unlabels():
    assert module.promote_moves({"v": ["AWSCURRENT", "AWSPENDING"]}) == [
        {"VersionStage": "AWSPENDING", "RemoveFromVersionId": "v"}
    ]


def test_drop_removes_only_the_pending_label():
    stages = {"cur": ["AWSCURRENT"], "new": ["AWSPENDING"]}
    assert module.apply_moves(stages, module.drop_moves(stages)) == {
        "cur": ["AWSCURRENT"],
        "new": [],
    }
    assert module.drop_moves({"cur": ["AWSCURRENT"]}) == []


@pytest.fixture
def secret(aws):
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name=NAME, SecretString="old-password")
    return sm


def value(sm, stage: str = "AWSCURRENT") -> str:
    return sm.get_secret_value(SecretId=NAME, VersionStage=stage)["SecretString"]


def test_pending_leaves_current_alone_and_is_idempotent(secret, capsys):
    first = run_module(module, {"secret_id": NAME, "state": "pending", "secret": "new"}, capsys)
    assert first["changed"] is True
    assert value(secret) == "old-password"
    assert value(secret, "AWSPENDING") == "new"
    again = run_module(module, {"secret_id": NAME, "state": "pending", "secret": "new"}, capsys)
    assert again["changed"] is False
    assert again["pending_version_id"] == first["pending_version_id"]
    assert "new" not in str(first) and "old-password" not in str(first)


def test_check_mode_stages_nothing(secret, capsys):
    result = run_module(
        module, {"secret_id": NAME, "state": "pending", "secret": "new"}, capsys, check_mode=True
    )
    assert result["changed"] is True
    assert len(secret.list_secret_version_ids(SecretId=NAME)["Versions"]) == 1
    promote = run_module(module, {"secret_id": NAME, "state": "current"}, capsys, check_mode=True)
    assert promote["changed"] is False


def test_current_promotes_the_pending_value_once(secret, capsys):
    run_module(module, {"secret_id": NAME, "state": "pending", "secret": "new"}, capsys)
    promoted = run_module(module, {"secret_id": NAME, "state": "current"}, capsys)
    assert promoted["changed"] is True
    assert value(secret) == "new"
    assert value(secret, "AWSPREVIOUS") == "old-password"
    assert not any("AWSPENDING" in labels for labels in promoted["version_ids_to_stages"].values())
    assert run_module(module, {"secret_id": NAME, "state": "current"}, capsys)["changed"] is False


def test_dropped_abandons_the_pending_value(secret, capsys):
    run_module(module, {"secret_id": NAME, "state": "pending", "secret": "new"}, capsys)
    dropped = run_module(module, {"secret_id": NAME, "state": "dropped"}, capsys)
    assert dropped["changed"] is True
    assert value(secret) == "old-password"
    assert run_module(module, {"secret_id": NAME, "state": "current"}, capsys)["changed"] is False
    assert value(secret) == "old-password"


def test_a_missing_secret_fails_clearly(aws, capsys):
    result = run_module(module, {"secret_id": "nope", "state": "current"}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "Secret nope does not exist"
