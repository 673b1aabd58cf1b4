"""The API container serves, swaps releases through the health gate without losing a request,
and refuses a release that never gets ready while the old one keeps serving."""

import json
import re
import time

import pytest
import testinfra
from ideation_testinfra import default_ipv4, http, metric_samples

testinfra_hosts = ["api-host"]

DB_SECRET = "molecule-db-secret-4f1c"
JWT_SECRET = "molecule-jwt-secret-5b7e0c2a9d41f63e8a1b"
API_KEY = "molecule-api-key-3c8f1e6d20a9"


@pytest.fixture(scope="module")
def base(host) -> str:
    return f"http://{default_ipv4(host)}:8000"


@pytest.fixture(scope="module")
def backing(host):
    return testinfra.get_host("api-backing", connection="ansible",
                              ansible_inventory=host.backend.ansible_inventory)


def api_containers(host) -> list[dict]:
    names = host.check_output(
        "docker ps -a --filter label=ideation-service --format '{{.Names}}'").split()
    return [json.loads(host.check_output(f"docker inspect {name}"))[0] for name in sorted(names)]


def load_report(host, name: str) -> dict:
    return json.loads(host.file(f"/root/load-{name}.json").content_string)


def test_ready_through_postgresql_and_redis(host, base):
    response = http(host, f"{base}/ready")
    assert response.status == 200, response.body
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_an_idea_round_trips(host, base):
    created = http(host, f"{base}/api/ideas", method="POST",
                   data=json.dumps({"title": "Rooftop gardens", "description": "On every school"}))
    assert created.status == 201, created.body
    idea = created.json()
    assert idea["status"] == "submitted"
    fetched = http(host, f"{base}{created.headers['location']}")
    assert fetched.status == 200
    assert fetched.json()["title"] == "Rooftop gardens"
    assert fetched.json()["id"] == idea["id"]


def test_ideas_live_in_the_ideation_schema_created_by_the_migration(backing):
    query = backing.run(
        "sudo -u postgres psql -d ideation_db -Atc "
        "\"SELECT (SELECT max(version) FROM ideation.schema_migrations), "
        "(SELECT count(*) > 0 FROM ideation.ideas WHERE title = 'Rooftop gardens')\"")
    assert query.rc == 0, query.stderr
    assert query.stdout.strip() == "1|t"


def test_metrics_count_requests_by_route(host, base):
    http(host, f"{base}/api/ideas", method="POST", data=json.dumps({"title": "Metrics"}))
    text = http(host, f"{base}/metrics", "-H", f"X-API-Key: {API_KEY}").body
    assert 'http_requests_total{method="POST",path="/api/ideas",status="201"}' in text
    assert "http_request_duration_seconds_bucket{" in text


def test_metrics_and_attachments_refuse_callers_without_their_credentials(host, base):
    """The role hands the container its API key and JWT secret: /metrics wants the key, the
    attachment endpoint a bearer token (examples/README.md)."""
    assert http(host, f"{base}/metrics").status == 401
    assert http(host, f"{base}/metrics", "-u", "prometheus:wrong-key-wrong-key-1").status == 401
    idea = http(host, f"{base}/api/ideas", method="POST", data=json.dumps({"title": "Docs"})).json()
    attach = http(host, f"{base}/api/ideas/{idea['id']}/attachments", method="POST",
                  data=json.dumps({"filename": "a.pdf", "content_type": "application/pdf",
                                   "size": 10}))
    assert attach.status == 401
    assert attach.json()["error"] == "a bearer token is required"


def test_metrics_time_database_operations_and_count_redis_operations(host, base):
    """Design section 9's db_query_duration_seconds and redis_operations_total, summed over
    gunicorn's workers (multiprocess mode): the requests may land on any of them."""
    before = http(host, f"{base}/metrics", "-u", f"prometheus:{API_KEY}").body
    assert http(host, f"{base}/ready").status == 200
    created = http(host, f"{base}/api/ideas", method="POST", data=json.dumps({"title": "Gauges"}))
    assert created.status == 201, created.body
    after = http(host, f"{base}/metrics", "-u", f"prometheus:{API_KEY}").body

    def moved(name: str, **labels: str) -> float:
        return (sum(metric_samples(after, name, **labels))
                - sum(metric_samples(before, name, **labels)))

    assert moved("db_query_duration_seconds_count", operation="create") == 1
    assert moved("db_query_duration_seconds_count", operation="ping") >= 1
    assert metric_samples(after, "db_query_duration_seconds_bucket", operation="create", le="+Inf")
    assert moved("redis_operations_total", operation="enqueue", outcome="ok") == 1
    assert moved("redis_operations_total", operation="ping", outcome="ok") >= 1
    assert not metric_samples(after, "redis_operations_total", outcome="error")
    operations = set(re.findall(r'operation="([^"]*)"', after))
    assert operations <= {"create", "get", "ping", "enqueue"}, operations


def test_one_container_serves_1_0_1_with_limits_and_hardening(host, base):
    containers = api_containers(host)
    assert [c["Name"] for c in containers] == ["/ideation-api-green"]
    (serving,) = containers
    assert serving["Config"]["Labels"]["ideation-image"] == "ideation/app:1.0.1"
    config = serving["HostConfig"]
    assert config["NanoCpus"] == 1_000_000_000
    assert config["Memory"] == 2 * 1024**3
    assert config["RestartPolicy"]["Name"] == "unless-stopped"
    assert config["NetworkMode"] == "host"
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"]
    assert serving["Config"]["User"] == "10001:10001"
    assert serving["Config"]["Healthcheck"]["Test"][-1] == "http://127.0.0.1:8102/health"
    assert http(host, f"{base}/health").json()["version"] == "1.0.1"


def test_docker_reports_the_container_healthy(host):
    status = ""
    for _ in range(30):
        status = host.check_output(
            "docker inspect -f '{{.State.Health.Status}}' ideation-api-green")
        if status == "healthy":
            break
        time.sleep(1)
    assert status == "healthy"


def test_the_api_listens_on_the_private_address_only(host):
    address = default_ipv4(host)
    listening = {s for s in host.socket.get_listening_sockets() if s.endswith(":8000")}
    assert listening == {f"tcp://{address}:8000"}
    assert host.run("curl -s --max-time 3 http://127.0.0.1:8000/health").rc != 0


def test_secrets_stay_in_a_root_only_file(host):
    env_file = host.file("/etc/ideation/api.env")
    assert (env_file.user, env_file.group, env_file.mode) == ("root", "root", 0o600)
    assert env_file.contains(f"^DATABASE_PASSWORD={DB_SECRET}$")
    assert env_file.contains(f"^JWT_SECRET={JWT_SECRET}$")
    assert env_file.contains(f"^API_KEY={API_KEY}$")
    labels = host.check_output("docker inspect -f '{{json .Config.Labels}}' ideation-api-green")
    for secret in (DB_SECRET, JWT_SECRET, API_KEY):
        assert secret not in labels


def test_the_swap_to_1_0_1_lost_no_request(host):
    report = load_report(host, "swap")
    assert report["failures"] == [], report["failures"][:5]
    assert report["requests"] > 50
    assert set(report["versions"]) == {"1.0.0", "1.0.1"}, "the load did not span the swap"


def test_the_broken_release_failed_the_play_clearly(host):
    message = host.file("/root/broken-deploy.txt").content_string
    assert "did not become ready" in message, message
    assert "deliberately broken" in message, message
    assert "keeps serving" in message, message
    assert "ideation/app:broken" in message, message


def test_a_release_that_dies_at_start_fails_fast_and_clearly(host):
    message = host.file("/root/broken-exit-deploy.txt").content_string
    assert "ideation/app:broken-exit" in message, message
    # gunicorn exits 3 (worker boot error), or 1 when its halt races with the reaping of workers
    assert "ideation-api-candidate is exited (exit code" in message, message
    assert "Worker failed to boot" in message, message
    assert "keeps serving" in message, message


def test_the_broken_release_left_the_old_container_serving_without_a_lost_request(host, base):
    report = load_report(host, "broken")
    assert report["failures"] == [], report["failures"][:5]
    assert set(report["versions"]) == {"1.0.1"}
    assert [c["Name"] for c in api_containers(host)] == ["/ideation-api-green"]
    assert http(host, f"{base}/ready").status == 200


def test_pending_connections_move_to_the_new_listener(host):
    assert host.file("/etc/sysctl.d/60-ideation-api.conf").contains("^net.ipv4.tcp_migrate_req=1$")
