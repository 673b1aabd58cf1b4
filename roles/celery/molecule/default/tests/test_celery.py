"""Workers consume their queues and process ideas, beat runs on exactly the chosen host and
sweeps forgotten ideas, healthchecks use celery inspect ping, secrets stay in a root-only file."""

import json
import time

import testinfra
from ideation_testinfra import default_ipv4, http, metric_samples

testinfra_hosts = ["celery-host"]

WORKER = "ideation-celery-default"
APP = "--app=ideation_app.tasks"
FLOWER_LOGIN = "ops:molecule-flower-secret-77"


def app_command(host, *args: str) -> str:
    return host.check_output(f"docker exec {WORKER} python3 -m ideation_app " + " ".join(args))


def wait_processed(host, idea_id: str, seconds: int = 45) -> dict:
    idea: dict = {}
    for _ in range(seconds):
        idea = json.loads(app_command(host, "show", idea_id))
        if idea["status"] == "processed":
            return idea
        time.sleep(1)
    return idea


def inspect(host, command: str, node: str) -> dict:
    out = host.check_output(f"docker exec {WORKER} python3 -m celery {APP} inspect {command} "
                            f"--destination={node} --timeout=10 --json")
    return json.loads(out)[node]


def test_workers_run_release_1_0_1_and_are_healthy(host):
    for name in ("default", "bulk"):
        container = json.loads(host.check_output(f"docker inspect ideation-celery-{name}"))[0]
        assert container["State"]["Health"]["Status"] == "healthy", container["State"]["Health"]
        assert container["Config"]["Labels"]["ideation-image"] == "ideation/app:1.0.1"
        assert container["Config"]["Healthcheck"]["Test"][1:7] == [
            "python3", "-m", "celery", APP, "inspect", "ping"]
        assert container["Config"]["StopTimeout"] == 70
        assert container["Config"]["StopSignal"] == "SIGTERM"
        assert container["HostConfig"]["NetworkMode"] == "host"


def test_each_worker_has_its_queues_and_concurrency(host):
    default = inspect(host, "stats", "default@celery-host")
    assert default["pool"]["max-concurrency"] == 4
    queues = inspect(host, "active_queues", "bulk@celery-host")
    assert [q["name"] for q in queues] == ["ideation-bulk"]
    assert inspect(host, "stats", "bulk@celery-host")["pool"]["max-concurrency"] == 1


def test_a_submitted_idea_is_processed(host):
    idea = json.loads(app_command(host, "submit", "'Community fridges'",
                                  "-d", "'Fridges for shared food in every district'"))
    assert idea["status"] == "submitted"
    done = wait_processed(host, idea["id"])
    assert done["status"] == "processed", done
    assert done["word_count"] == 9
    assert "fridges" in done["keywords"]


def test_beat_sweeps_an_idea_nobody_queued(host):
    idea = json.loads(app_command(host, "submit", "'Forgotten idea'", "--no-queue"))
    done = wait_processed(host, idea["id"], seconds=60)
    assert done["status"] == "processed", "the beat sweep did not queue it again"


def test_drained_workers_take_no_task_until_they_start_again(host):
    """The drain entry point (patch.yml's step before it stops the workers): no worker consumes a
    queue, so an idea submitted then stays queued, through two beat sweeps; it is processed once
    the workers have been stopped and started again."""
    for node in ("default", "bulk"):
        queues = json.loads(host.file(f"/root/drained-queues-{node}.json").content_string)
        assert queues == {f"{node}@celery-host": []}, queues
    idea = json.loads(host.file("/root/drained-idea.json").content_string)
    after = json.loads(host.file("/root/drained-idea-after.json").content_string)
    assert after["status"] == "submitted", after
    assert wait_processed(host, idea["id"])["status"] == "processed"


def test_beat_runs_only_on_the_beat_host(host):
    names = host.check_output("docker ps --format '{{.Names}}'").split()
    assert names.count("ideation-celery-beat") == 1
    elsewhere = host.file("/root/containers-beat-elsewhere").content_string.split()
    assert "ideation-celery-beat" not in elsewhere
    assert {"ideation-celery-default", "ideation-celery-bulk"} <= set(elsewhere)


def test_secrets_stay_in_a_root_only_file(host):
    env_file = host.file("/etc/ideation/celery.env")
    assert (env_file.user, env_file.group, env_file.mode) == ("root", "root", 0o600)
    assert env_file.contains("^REDIS_PASSWORD=molecule-redis-secret-9d2e$")


def test_the_migration_ran_once(host):
    backing = testinfra.get_host("celery-backing", connection="ansible",
                                 ansible_inventory=host.backend.ansible_inventory)
    versions = backing.check_output(
        "sudo -u postgres psql -d ideation_db -Atc "
        "'SELECT version FROM ideation.schema_migrations'")
    assert versions.split() == ["1"]


def test_flower_answers_on_the_private_address_behind_basic_auth(host):
    address = default_ipv4(host)
    listening = {s for s in host.socket.get_listening_sockets() if s.endswith(":5555")}
    assert listening == {f"tcp://{address}:5555"}
    assert http(host, f"http://{address}:5555/").status == 401
    assert http(host, f"http://{address}:5555/", "-u", "ops:wrong").status == 401
    assert http(host, f"http://{address}:5555/", "-u", FLOWER_LOGIN).status == 200
    workers = http(host, f"http://{address}:5555/api/workers?refresh=1", "-u", FLOWER_LOGIN)
    assert workers.status == 200
    assert {"default@celery-host", "bulk@celery-host"} <= set(workers.json())


def test_flower_metrics_show_tasks_and_workers_from_their_events(host):
    """The dashboards' flower_events_total, flower_task_runtime_seconds (the design's
    celery_task_duration_seconds) and flower_worker_online: they exist only when the workers
    send task events (--task-events) and Flower can record them."""
    url = f"http://{default_ipv4(host)}:5555/metrics"
    idea = json.loads(app_command(host, "submit", "'Flower metrics'"))
    assert wait_processed(host, idea["id"])["status"] == "processed"
    task = {"worker": "default@celery-host", "task": "ideation.process_idea"}
    body = ""
    for _ in range(30):
        body = http(host, url).body
        if metric_samples(body, "flower_task_runtime_seconds_count", **task):
            break
        time.sleep(1)
    succeeded = metric_samples(body, "flower_events_total", type="task-succeeded", **task)
    assert sum(succeeded) >= 1, body
    assert sum(metric_samples(body, "flower_task_runtime_seconds_count", **task)) >= 1, body
    assert metric_samples(body, "flower_task_runtime_seconds_bucket", le="+Inf", **task), body
    for worker in ("default@celery-host", "bulk@celery-host"):
        assert metric_samples(body, "flower_worker_online", worker=worker) == [1.0], body

