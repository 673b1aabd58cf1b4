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


@pytest.fixture(scope="module")
def database(host):
    return testinfra.get_host("apptier-postgres", connection="ansible",
                              ansible_inventory=host.backend.ansible_inventory)


def eventually(check, seconds: float = 30, step: float = 0.5):
    """check()'s first truthy result within `seconds`; its last result otherwise. Under a
    loaded machine streaming and restarts take longer than on a quiet one: tests wait for the
    condition, never a fixed time."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(step)


def standby_has(database, title: str) -> bool:
    query = f"SELECT count(*) FROM ideation.ideas WHERE title = '{title}'"
    psql = shlex.join(["psql", "-p", "5433", "-d", "ideation_db", "-XAtc", query])
    result = database.run(shlex.join(["su", "postgres", "-c", psql]))
    assert result.rc == 0, result.stderr
    return result.stdout.strip() == "1"


@pytest.fixture(scope="module")
def replicated(host, base, database) -> str:
    """The title of an idea POSTed to the primary, once the replica has it."""
    title = f"Replica {time.time_ns()}"
    assert http(host, f"{base}/api/ideas", method="POST",
                data=json.dumps({"title": title})).status == 201
    assert eventually(lambda: standby_has(database, title)), "the standby never got the idea"
    return title


def read_only_transactions(host) -> int:
    """Transactions PgBouncer has served through its read-only entry."""
    return sum(int(row["total_xact_count"]) for row in console(host)["STATS"]
               if row["database"] == "ideation_ro")


def listing(host, base, text: str) -> list[str]:
    response = http(host, f"{base}/api/ideas?q={text}")
    assert response.status == 200, response.body
    return [idea["title"] for idea in response.json()["ideas"]]


def api_log(host) -> str:
    return host.run("docker logs --since 60s $(docker ps -q --filter label=ideation-service=api"
                    " | head -n 1) 2>&1").stdout


def test_listing_reads_from_the_streaming_replica(host, base, database, replicated):
    """ideation_ro is PgBouncer's entry at the standby (port 5433, in recovery); an idea written
    to the primary reaches it by streaming, and a listing finds it through that entry."""
    standby = database.run("su postgres -c \"psql -p 5433 -XAtc 'SELECT pg_is_in_recovery()'\"")
    assert standby.stdout.strip() == "t", standby.stderr
    (entry,) = [row for row in console(host)["DATABASES"] if row["name"] == "ideation_ro"]
    assert (entry["host"], entry["port"], entry["database"]) == ("apptier-postgres", 5433,
                                                                 "ideation_db")
    time.sleep(2)  # past the app's check interval (1 s): a fresh lag check
    before = read_only_transactions(host)
    assert listing(host, base, replicated.split()[1]) == [replicated]
    # The lag check and the listing itself, both on the replica.
    assert read_only_transactions(host) >= before + 2
    assert "retrying on the primary" not in api_log(host)


def test_listing_falls_back_to_the_primary_while_the_replica_is_stopped(host, base, database,
                                                                        replicated):
    database.run_expect([0], "systemctl stop postgresql@15-replica")
    try:
        # With the standby down the only server that has the idea is the primary.
        assert listing(host, base, replicated.split()[1]) == [replicated]
        time.sleep(2)
        assert listing(host, base, replicated.split()[1]) == [replicated]
        log = api_log(host)
        assert ("read on the replica failed, retrying on the primary" in log
                or "read-only queries now go to the primary (unreachable" in log), log[-2000:]
    finally:
        database.run_expect([0], "systemctl start postgresql@15-replica")

    def served_by_the_replica() -> bool:
        # PgBouncer waits server_login_retry after a failed connection before it tries the
        # standby again; the app re-checks every second: reads come back within seconds.
        before = read_only_transactions(host)
        assert listing(host, base, replicated.split()[1]) == [replicated]
        return read_only_transactions(host) > before

    assert eventually(served_by_the_replica, seconds=60, step=1), \
        "reads never came back to the replica after it restarted"


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
