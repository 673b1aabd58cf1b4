"""The application tier end to end: API, worker, PgBouncer, PostgreSQL and Redis together."""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import pytest
import testinfra
import yaml
from ideation_testinfra import default_ipv4, http

testinfra_hosts = ["apptier-api"]

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
VARS = yaml.safe_load((SCENARIO / "group_vars" / "all.yml").read_text())
CONSOLE_PASSWORD = next(
    user["password"] for user in VARS["pgbouncer_users"] if user["name"] == "pgbouncer_admin")

# Runs on an app host, where the exporter's dependency python3-psycopg2 is installed.
CONSOLE_QUERY = """
import json, sys, psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=6432, dbname="pgbouncer",
                        user="pgbouncer_admin", password=sys.argv[1])
conn.autocommit = True
out = {}
for command in ("POOLS", "DATABASES", "STATS", "CONFIG"):
    with conn.cursor() as cur:
        cur.execute("SHOW " + command)
        names = [c.name for c in cur.description]
        out[command] = [dict(zip(names, row)) for row in cur.fetchall()]
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def base(host) -> str:
    return f"http://{default_ipv4(host)}:8000"


@pytest.fixture(scope="module")
def worker(host):
    return testinfra.get_host("apptier-worker", connection="ansible",
                              ansible_inventory=host.backend.ansible_inventory)


def console(host) -> dict:
    """SHOW POOLS, DATABASES, STATS and CONFIG from the host's PgBouncer admin console."""
    result = host.run(
        f"python3 -c {shlex.quote(CONSOLE_QUERY)} {shlex.quote(CONSOLE_PASSWORD)}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def test_ready_through_pgbouncer_and_redis(host, base):
    response = http(host, f"{base}/ready")
    assert response.status == 200, response.body
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_an_idea_posted_to_the_api_is_processed_by_the_worker(host, base):
    created = http(host, f"{base}/api/ideas", method="POST",
                   data=json.dumps({"title": "Community tool library",
                                    "description": "Lend drills, not buy them"}))
    assert created.status == 201, created.body
    assert created.json()["status"] == "submitted"
    location = f"{base}{created.headers['location']}"
    status = "submitted"
    for _ in range(60):
        status = http(host, location).json()["status"]
        if status != "submitted":
            break
        time.sleep(1)
    assert status == "processed"


@pytest.mark.parametrize("tier", ["api", "worker"])
def test_pgbouncer_pools_in_transaction_mode_with_the_configured_sizes(host, worker, tier):
    target = host if tier == "api" else worker
    shown = console(target)
    config = {row["key"]: row["value"] for row in shown["CONFIG"]}
    assert (config["pool_mode"], config["default_pool_size"], config["reserve_pool_size"]) == (
        "transaction", "20", "5")
    (database,) = [row for row in shown["DATABASES"] if row["name"] == "ideation_db"]
    assert (database["pool_size"], database["reserve_pool"], database["max_connections"]) == (
        20, 5, 25)
    (pool,) = [row for row in shown["POOLS"] if row["database"] == "ideation_db"]
    assert (pool["user"], pool["pool_mode"]) == ("ideation_user", "transaction")
    # The application's queries went through this PgBouncer.
    (stats,) = [row for row in shown["STATS"] if row["database"] == "ideation_db"]
    assert int(stats["total_xact_count"]) > 0


def test_a_broken_image_fails_the_play(host):
    outcome = json.loads(
        (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "broken-deploy.json").read_text())
    output = outcome["output"]
    assert outcome["rc"] == 2, output[-3000:]
    assert "Fail the deploy" in output
    assert "did not become ready" in output, output[-3000:]
    assert "ideation/app:broken" in output
    assert "keeps serving" in output


def test_the_old_container_keeps_serving_after_the_broken_deploy(host, base):
    health = http(host, f"{base}/health")
    assert health.status == 200
    assert health.json()["version"] == "1.0.0"
    assert http(host, f"{base}/ready").status == 200
    images = host.check_output(
        "docker ps --filter label=ideation-service --format '{{.Image}}'").split()
    assert images == ["ideation/app:1.0.0"]
