"""plugin_utils/container_watchdog.py: when a container is restarted, when the instance is
reported Unhealthy (against moto's auto-scaling, with the fidelity patches), the metrics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils import container_watchdog as wd

BACKOFF, REPLACE = 60.0, 600.0


def step(tracked, observed, now):
    return wd.decide(tracked, observed, now, backoff=BACKOFF, replace_after=REPLACE)


def test_an_unhealthy_container_is_restarted_at_once_then_after_the_backoff():
    tracked: dict[str, wd.Tracked] = {}
    assert step(tracked, {"api": "healthy"}, 0).restart == ()
    assert step(tracked, {"api": "unhealthy"}, 10).restart == ("api",)
    assert step(tracked, {"api": "starting"}, 20).restart == ()
    assert step(tracked, {"api": "unhealthy"}, 60).restart == ()  # 50 s after the restart
    assert step(tracked, {"api": "unhealthy"}, 70).restart == ("api",)
    assert tracked["api"].restarts == 2


def test_healthy_again_resets_the_clock_but_not_the_count():
    tracked: dict[str, wd.Tracked] = {}
    step(tracked, {"api": "unhealthy"}, 0)
    step(tracked, {"api": "healthy"}, 30)
    assert tracked["api"].unhealthy_since is None and tracked["api"].restarts == 1
    assert step(tracked, {"api": "unhealthy"}, 500).report == ()
    assert step(tracked, {"api": "unhealthy"}, 1099).report == ()
    assert step(tracked, {"api": "unhealthy"}, 1100).report == ("api",)


def test_unhealthy_through_restarts_past_the_limit_reports_the_instance():
    tracked: dict[str, wd.Tracked] = {}
    now, reported = 0.0, ()
    while not reported:
        health = "unhealthy" if int(now) % 70 < 40 else "starting"
        reported = step(tracked, {"api": health, "worker": "healthy"}, now).report
        now += 10
    assert reported == ("api",) and now - 10 == REPLACE
    assert tracked["worker"].restarts == 0


def test_starting_alone_and_no_health_check_are_left_alone():
    tracked: dict[str, wd.Tracked] = {}
    assert step(tracked, {"new": "starting", "plain": "none"}, 0) == wd.Decision()
    assert step(tracked, {"new": "starting", "plain": "none"}, REPLACE * 2) == wd.Decision()


def test_a_container_gone_is_no_longer_unhealthy_but_keeps_its_count():
    tracked: dict[str, wd.Tracked] = {}
    step(tracked, {"api": "unhealthy"}, 0)
    step(tracked, {}, 10)
    assert tracked["api"].unhealthy_since is None and tracked["api"].restarts == 1
    text = wd.metrics_text(tracked, reported=False, last_run=10)
    assert 'ideation_container_watchdog_restarts_total{container="api"} 1' in text
    assert 'ideation_container_watchdog_unhealthy{container="api"} 0' in text
    assert "ideation_container_watchdog_reported_unhealthy 0" in text


class FakeDocker:
    """`docker ps`, `inspect` and `restart` on a dict of containers."""

    def __init__(self, containers: dict[str, dict[str, Any]]) -> None:
        self.containers = containers
        self.restarted: list[str] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        if argv[1] == "ps":
            names = [n for n, c in self.containers.items() if c["running"] and c["labels"]]
            return subprocess.CompletedProcess(argv, 0, "\n".join(names) + "\n", "")
        if argv[1] == "inspect":
            out = [{"Name": f"/{n}", "Config": {"Labels": self.containers[n]["labels"]},
                    "State": {"Running": self.containers[n]["running"],
                              **({"Health": {"Status": self.containers[n]["health"]}}
                                 if self.containers[n]["health"] else {})}}
                   for n in argv[2:]]  # fmt: skip
            return subprocess.CompletedProcess(argv, 0, json.dumps(out), "")
        assert argv[1] == "restart"
        self.restarted.append(argv[-1])
        self.containers[argv[-1]]["health"] = "starting"
        return subprocess.CompletedProcess(argv, 0, argv[-1], "")


def container(service: str, health: str | None, running: bool = True) -> dict[str, Any]:
    return {"labels": {"ideation-service": service}, "health": health, "running": running}


def test_only_running_containers_of_the_watched_services_are_looked_at(tmp_path: Path):
    docker = FakeDocker({
        "ideation-api": container("api", "unhealthy"),
        "candidate": container("api-candidate", "unhealthy"),  # a deploy's gate decides on it
        "worker": container("celery-worker", None),
        "stopped": container("api", "unhealthy", running=False),
    })  # fmt: skip
    settings = wd.Settings(services=["api", "celery-worker"],
                           metrics_file=str(tmp_path / "m.prom"))  # fmt: skip
    assert wd.watched_health(settings, docker) == {"ideation-api": "unhealthy", "worker": "none"}
    wd.Watchdog(settings, docker).cycle(now=0)
    assert docker.restarted == ["ideation-api"]
    assert 'restarts_total{container="ideation-api"} 1' in (tmp_path / "m.prom").read_text()


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto (in-process, with the project's fidelity patches) with a group of one instance."""
    import importlib.util

    from moto import mock_aws

    path = Path(__file__).resolve().parents[4] / "tests/integration/moto_server.py"
    spec = importlib.util.spec_from_file_location("ideation_moto_server", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.apply_fidelity_patches()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.create_launch_template(LaunchTemplateName="api", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.small"})  # fmt: skip
        client = boto3.client("autoscaling", region_name="us-east-1")
        client.create_auto_scaling_group(
            AutoScalingGroupName="api", MinSize=1, MaxSize=2, DesiredCapacity=1,
            AvailabilityZones=["us-east-1a"], LaunchTemplate={"LaunchTemplateName": "api"})
        yield client


def test_a_container_unhealthy_past_the_limit_gets_its_instance_replaced(group, tmp_path: Path):
    [instance] = [i["InstanceId"] for i in group.describe_auto_scaling_groups()[
        "AutoScalingGroups"][0]["Instances"]]  # fmt: skip
    docker = FakeDocker({"ideation-api": container("api", "unhealthy")})
    settings = wd.Settings(services=["api"], instance_id=instance, region="us-east-1",
                           backoff=30, replace_after=90, metrics_file=str(tmp_path / "m.prom"))
    dog = wd.Watchdog(settings, docker, client=group)
    for now in range(0, 100, 10):
        docker.containers["ideation-api"]["health"] = "unhealthy"  # it never heals
        dog.cycle(now=float(now))
    assert docker.restarted == ["ideation-api"] * 4  # at 0, 30, 60, 90 s
    assert dog.reported
    instances = group.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]
    assert instance not in {i["InstanceId"] for i in instances}, "not replaced"
    assert len(instances) == 1
    assert "ideation_container_watchdog_reported_unhealthy 1" in (tmp_path / "m.prom").read_text()


def test_settings_refuse_an_unknown_key(tmp_path: Path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"intervall": 5}))
    with pytest.raises(ValueError, match=r"unknown settings \['intervall'\]"):
        wd.Settings.load(path)


def inspected(status: str | None, end: str, interval_s: float = 1, started: str = "") -> dict:
    health = {"Status": status, "Log": [{"End": end}] if end else []} if status else None
    return {"Config": {"Healthcheck": {"Interval": int(interval_s * 1e9),
                                       "Timeout": int(interval_s * 1e9)}},
            "State": {"Running": True, "StartedAt": started, "Health": health}}  # fmt: skip


def test_a_health_log_docker_stopped_writing_is_stale():
    now = wd._timestamp("2026-12-06T18:50:10.123456789Z")
    assert now is not None
    fresh = inspected("healthy", "2026-12-06T18:50:05.000000001Z")  # 5 s ago, 1 s + 1 s
    stale = inspected("healthy", "2026-12-06T18:50:03.999999999Z")  # 6.1 s ago
    assert wd.health_status(fresh, now) == "healthy"
    assert wd.health_status(stale, now) == "stale"
    assert wd.health_status(inspected(None, ""), now) == "none"
    # No check yet: measured from the start (a fresh container is `starting`).
    assert wd.health_status(inspected("starting", "", started="2026-12-06T18:50:09Z"), now) == (
        "starting")
    assert wd._timestamp("0001-01-01T00:00:00Z") is None


def test_a_stale_monitor_is_resumed_not_restarted_and_at_most_every_backoff():
    tracked: dict[str, wd.Tracked] = {}
    assert step(tracked, {"api": "stale"}, 0) == wd.Decision(resume=("api",))
    assert step(tracked, {"api": "stale"}, 30) == wd.Decision()
    assert step(tracked, {"api": "stale"}, 60) == wd.Decision(resume=("api",))
    assert tracked["api"].restarts == 0 and tracked["api"].resumes == 2
    assert 'health_resumed_total{container="api"} 2' in wd.metrics_text(
        tracked, reported=False, last_run=60)
