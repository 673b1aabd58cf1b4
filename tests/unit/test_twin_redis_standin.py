"""The dev twin's ElastiCache stand-in requires the AUTH token, as ElastiCache does, and every
Redis client of the dev inventory sends it (playbooks/dev/twin.yml, inventories/dev)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOKEN = "Tw1nT0kenOfSecretsManager0123456789abcdef"


def standin_task() -> dict[str, Any]:
    plays = yaml.safe_load((REPO / "playbooks/dev/twin.yml").read_text())
    (play,) = [p for p in plays if p.get("hosts") == "twin_redis"]
    (task,) = [
        t
        for t in play["tasks"]
        if t.get("ansible.builtin.copy", {}).get("dest") == "/etc/redis/redis.conf"
    ]
    return task


@pytest.mark.parametrize("tls", [False, True])
def test_the_standin_requires_the_token(tls: bool) -> None:
    task = standin_task()
    hostvars = {
        "localhost": {
            "_twin_redis_tls": tls,
            "_twin_ports": {"redis": 6379},
            "dev_twin_redis_password": TOKEN,
        }
    }
    conf = (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(task["ansible.builtin.copy"]["content"])
        .render(hostvars=hostvars)
    )
    directives = [
        line.split(None, 1)
        for line in conf.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ["requirepass", TOKEN] in directives
    assert task["no_log"] is True  # the rendered file holds the token


def test_every_dev_redis_client_sends_the_token_of_secrets_manager() -> None:
    twin = yaml.safe_load((REPO / "inventories/dev/group_vars/all/twin.yml").read_text())
    main = yaml.safe_load((REPO / "inventories/dev/group_vars/all/main.yml").read_text())
    assert "platform_secrets.redis_auth_token" in twin["dev_twin_redis_password"]
    assert main["platform_secrets"]["redis_auth_token"].endswith("redis/auth_token")
    for client in ("api_redis_password", "celery_redis_password", "prometheus_redis_password"):
        assert twin[client] == "{{ dev_twin_redis_password }}", client
