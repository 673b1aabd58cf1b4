"""The engine runs with the role's daemon.json, loads images from archives, and applies
configuration changes by reload or, where needed, by a restart that containers survive."""

import json

from ideation_testinfra import assert_running


def docker_info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def pids(host, name: str) -> tuple[str, str]:
    dockerd, probe = host.file(f"/root/pids-{name}").content_string.split()
    return dockerd, probe


def test_dockerd_runs_with_live_restore_and_rotated_json_logs(host):
    assert_running(host, "docker")
    info = docker_info(host)
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"
    assert info["Driver"] == "overlay2"
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-opts"] == {"max-size": "10m", "max-file": "4"}


def test_the_image_loaded_from_the_archive_runs_a_container_with_rotated_logs(host):
    probe = json.loads(host.check_output("docker inspect probe"))[0]
    assert probe["State"]["Running"] is True
    assert probe["Config"]["Image"] == "ideation/docker-role-probe:1"
    assert probe["HostConfig"]["LogConfig"] == {
        "Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}


def test_the_copied_archive_is_gone_once_loaded(host):
    assert host.run("ls -A /var/tmp/ideation-images").stdout.strip() == ""


def test_a_docker_user_can_use_the_daemon(host):
    assert "docker" in host.user("deploy").groups
    result = host.run("sudo -u deploy docker ps --format '{{.Names}}'")
    assert result.rc == 0, result.stderr
    assert "probe" in result.stdout.split()


def test_a_reloadable_option_is_applied_without_restarting_dockerd(host):
    before, after = pids(host, "before"), pids(host, "after-reload")
    assert after[0] == before[0], "dockerd was restarted for a change a reload applies"
    assert docker_info(host)["Debug"] is True


def test_a_log_option_change_restarts_dockerd_and_containers_survive_it(host):
    before, after = pids(host, "after-reload"), pids(host, "after-restart")
    assert after[0] != before[0], "dockerd was not restarted for a change that needs it"
    assert after[1] == before[1], "the container did not survive the restart (live-restore)"
    assert host.check_output("docker inspect -f '{{.State.Pid}}' probe") == after[1]


def test_a_rebuilt_tag_is_loaded_again_when_its_image_id_is_given(host):
    wanted = host.file("/root/probe-b.id").content_string.strip()
    assert host.file("/root/probe-image-id").content_string.strip() == wanted
    build = host.check_output(
        "docker run --rm ideation/docker-role-probe:1 dash -c 'read b < /build; echo $b'")
    assert build == "b"


def watchdog_metric(host, name: str) -> str:
    prom = host.file("/var/lib/prometheus/node-exporter/ideation_container_watchdog.prom")
    return next((line.split()[-1] for line in prom.content_string.splitlines()
                 if line.startswith(name)), "")


def test_the_watchdog_restarts_a_container_that_turns_unhealthy_and_counts_it(host):
    import time

    assert_running(host, "ideation-container-watchdog")
    counter = 'ideation_container_watchdog_restarts_total{container="sick"}'
    before = int(watchdog_metric(host, counter) or 0)
    started = host.check_output("docker inspect -f '{{.State.StartedAt}}' sick")
    # The watchdog may be pausing it for a moment (below): exec refuses a paused container.
    for _ in range(20):
        if host.run("docker exec sick dash -c ': > /run/sick'").rc == 0:
            break
        time.sleep(0.5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = host.check_output("docker inspect -f '{{.State.Health.Status}}' sick")
        restarted = host.check_output("docker inspect -f '{{.State.StartedAt}}' sick") != started
        if restarted and health == "healthy" and int(watchdog_metric(host, counter) or 0) > before:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"sick was not restarted and healthy again within 60 s ({health})")
    assert int(watchdog_metric(host, counter)) == before + 1
    assert watchdog_metric(host, "ideation_container_watchdog_reported_unhealthy") == "0"
    # The probe without the watched label was left alone.
    assert 'container="probe"' not in host.file(
        "/var/lib/prometheus/node-exporter/ideation_container_watchdog.prom").content_string


def test_the_watchdog_starts_again_the_health_checks_a_live_restore_stopped(host):
    """dockerd before 23.0 stops the health checks of the containers it live-restores
    (moby/moby#41871); the side effect restarted it, so Debian 12's 20.10 needed the watchdog's
    pause and unpause for the test above to see `sick` fail at all."""
    major = int(host.check_output("docker version -f '{{.Server.Version}}'").split(".")[0])
    resumed = int(watchdog_metric(
        host, 'ideation_container_watchdog_health_resumed_total{container="sick"}') or 0)
    if major < 23:
        assert resumed >= 1, "the stopped health checks of sick were not started again"
    import datetime
    import json

    log = json.loads(host.check_output("docker inspect -f '{{json .State.Health.Log}}' sick"))
    end = datetime.datetime.strptime(log[-1]["End"][:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.UTC)
    now = int(host.check_output("date -u +%s"))
    assert now - end.timestamp() < 30, f"Docker's last health check of sick ended at {end}"
