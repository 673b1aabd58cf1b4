"""PgBouncer pools to a real PostgreSQL, reloads changes, refuses bad ones, exports metrics."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
import yaml
from ideation_testinfra import assert_running, default_ipv4, http

testinfra_hosts = ["pgbouncer-app"]

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
VARS = yaml.safe_load((SCENARIO / "group_vars" / "all.yml").read_text())
PASSWORDS = {user["name"]: user["password"] for user in VARS["pgbouncer_users"]}


def psql(host, user: str, dbname: str, sql: str, password: str | None = None):
    """Run SQL through PgBouncer on 127.0.0.1:6432; rows come back as 'a|b' lines."""
    secret = PASSWORDS[user] if password is None else password
    conninfo = f"host=127.0.0.1 port=6432 dbname={dbname} user={user} connect_timeout=5"
    return host.run(
        f"PGPASSWORD={shlex.quote(secret)} psql {shlex.quote(conninfo)} -XAt -c {shlex.quote(sql)}"
    )


def console(host, command: str) -> dict[str, list[str]]:
    """A SHOW command on the admin console, as {first column: the other columns}."""
    result = psql(host, "pgbouncer_admin", "pgbouncer", command)
    assert result.rc == 0, result.stderr
    return {line.split("|")[0]: line.split("|")[1:] for line in result.stdout.splitlines()}


@pytest.fixture(scope="module")
def evidence(host):
    return json.loads(host.file("/var/tmp/pgbouncer-molecule.json").content_string)


def test_pgbouncer_and_exporter_run(host):
    assert_running(host, "pgbouncer")
    assert_running(host, "prometheus-pgbouncer-exporter")


def test_client_reaches_postgres_through_loopback_with_tls_to_the_server(host):
    result = psql(
        host, "ideation_user", "ideation_db",
        "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ideation_user|t"


def test_wrong_password_is_refused(host):
    result = psql(host, "ideation_user", "ideation_db", "SELECT 1", password="not-the-password")
    assert result.rc != 0
    assert "SASL authentication failed" in result.stderr


def test_listens_on_loopback_and_docker0_only(host):
    listening = sorted(s for s in host.socket.get_listening_sockets() if s.endswith(":6432"))
    assert listening == ["tcp://127.0.0.1:6432", "tcp://172.17.0.1:6432"]


def test_pools_in_transaction_mode_with_the_design_sizes(host):
    config = console(host, "SHOW CONFIG")
    assert config["pool_mode"][0] == "transaction"
    assert config["default_pool_size"][0] == "20"
    assert config["reserve_pool_size"][0] == "5"
    assert config["server_idle_timeout"][0] == "600"
    assert config["auth_type"][0] == "scram-sha-256"
    assert config["server_tls_sslmode"][0] == "verify-full"
    assert psql(host, "ideation_user", "ideation_db", "SELECT 1").rc == 0
    pools = console(host, "SHOW POOLS")
    assert pools["ideation_db"][-1] == "transaction"
    databases = console(host, "SHOW DATABASES")
    # host|port|database|force_user|pool_size|min_pool_size|reserve_pool|pool_mode|max_connections
    # No replica here: the read-only entry's pool (5, no reserve) is carved out of the primary's,
    # so the host still opens at most 25 server connections to the primary.
    row = databases["ideation_db"]
    assert row[0] == "pgbouncer-postgres"
    assert (row[4], row[6], row[8]) == ("15", "5", "20"), row
    read_only = databases["ideation_ro"]
    assert (read_only[0], read_only[2]) == ("pgbouncer-postgres", "ideation_db"), read_only
    assert (read_only[4], read_only[6], read_only[8]) == ("5", "0", "5"), read_only
    assert psql(host, "ideation_user", "ideation_ro", "SELECT 1").stdout.strip() == "1"


def test_userlist_is_private(host):
    userlist = host.file("/etc/pgbouncer/userlist.txt")
    assert userlist.user == "postgres"
    assert userlist.mode == 0o600
    assert not host.file("/etc/pgbouncer/pgbouncer.ini").contains("secret")


def test_changed_setting_is_applied_by_reload(host, evidence):
    assert evidence["pid_before"] == evidence["pid_after_reload"] == evidence["pid_end"]
    assert host.service("pgbouncer").is_running
    running = host.run("systemctl show --property MainPID --value pgbouncer").stdout.strip()
    assert running == evidence["pid_end"]
    assert console(host, "SHOW CONFIG")["query_wait_timeout"][0] == "90"


def test_rejected_setting_fails_the_play_with_pgbouncers_message(host, evidence):
    assert evidence["bad_setting_failed"]
    assert evidence["bad_setting_task"].startswith("Render the PgBouncer configuration")
    assert 'invalid value "lots" for parameter max_client_conn' in evidence["bad_setting_message"]
    assert not host.file("/etc/pgbouncer/pgbouncer.ini").contains("lots")
    # The running PgBouncer never saw it, and still serves.
    assert psql(host, "ideation_user", "ideation_db", "SELECT 1").stdout.strip() == "1"


def test_oversized_fleet_fails_the_preflight_with_the_numbers(host, evidence):
    assert evidence["oversized_failed"]
    message = evidence["oversized_message"]
    assert "50 hosts x 25 server connections each" in message
    assert "= 1250" in message
    assert "max_connections 100 - headroom 10 leaves 90" in message


def test_exporter_serves_pgbouncer_metrics_on_the_private_address(host):
    address = default_ipv4(host)
    response = http(host, f"http://{address}:9127/metrics")
    assert response.status == 200
    assert "pgbouncer_queries_total" in response.body
    assert 'pgbouncer_active_clients{database="ideation_db",user="ideation_user"}' in response.body
    # The pool's server connections (the launcher adds them; the alert reads them).
    assert 'pgbouncer_active_servers{database="ideation_db",user="ideation_user"}' in response.body
    assert 'pgbouncer_idle_servers{database="ideation_db",user="ideation_user"}' in response.body
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":9127")]
    assert listening == [f"tcp://{address}:9127"]
