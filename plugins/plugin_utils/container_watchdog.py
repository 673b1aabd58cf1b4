"""Health that heals, on a Docker host: restart a container Docker reports unhealthy (Docker
itself never does), count it for Prometheus, and when a container stays unhealthy through its
restarts past a limit, report the instance Unhealthy to its auto-scaling group, which replaces it
(the terminating lifecycle hook drains it first).

Standard library only (boto3 imported when there is an instance to report): the docker role
installs this very file next to /usr/local/sbin/ideation-container-watchdog, and the unit tests
import it on the controller. Documented in roles/docker/README.md ("Container watchdog").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

LOG = logging.getLogger("ideation-container-watchdog")
METRIC_PREFIX = "ideation_container_watchdog"
UNHEALTHY = "unhealthy"
HEALTHY = "healthy"
# Docker's health monitor stopped: no check for several intervals (moby/moby#41871: dockerd
# before 23.0, Debian 12's docker.io 20.10 among them, stops a container's health checks when it
# restarts with live-restore, and the last status stays for ever). `docker pause` and `unpause`
# start the monitor again without touching the process.
STALE = "stale"
STALE_INTERVALS = 3
DEFAULT_HEALTH_INTERVAL = 30.0
_RFC3339 = re.compile(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


@dataclass
class Tracked:
    """What the watchdog remembers of one container between cycles."""

    unhealthy_since: float | None = None
    last_restart: float | None = None
    restarts: int = 0
    last_resume: float | None = None
    resumes: int = 0


@dataclass(frozen=True)
class Decision:
    """One cycle's actions: containers to restart, and whether to report the instance."""

    restart: tuple[str, ...] = ()
    report: tuple[str, ...] = ()  # the containers that made it report the instance
    resume: tuple[str, ...] = ()  # containers whose health monitor Docker stopped


def decide(
    tracked: dict[str, Tracked],
    observed: Mapping[str, str],
    now: float,
    *,
    backoff: float,
    replace_after: float,
) -> Decision:
    """Update `tracked` with this cycle's health of each running watched container and say what
    to do.

    - unhealthy: restarted at once, then at most every `backoff` seconds while it stays so;
    - unhealthy, or starting again after a restart, for `replace_after` seconds in a row
      (restarts do not reset the clock, only `healthy` does): the instance is reported;
    - healthy: forgotten as unhealthy (its restart count stays for the metric);
    - a container that is no longer running or watched is forgotten, except its count;
    - stale (Docker ran no health check for several intervals): its health monitor is started
      again (pause and unpause), at most every `backoff` seconds; its last status means nothing.
    A container without a health check (`none`) is never acted on.
    """
    restart: list[str] = []
    report: list[str] = []
    resume: list[str] = []
    for name, health in sorted(observed.items()):
        state = tracked.setdefault(name, Tracked())
        if health == STALE:
            if state.last_resume is None or now - state.last_resume >= backoff:
                resume.append(name)
                state.last_resume = now
                state.resumes += 1
            continue
        if health == HEALTHY:
            state.unhealthy_since = None
            continue
        failing = health == UNHEALTHY or (
            health == "starting" and state.unhealthy_since is not None
        )
        if not failing:
            continue
        if state.unhealthy_since is None:
            state.unhealthy_since = now
        if health == UNHEALTHY and (
            state.last_restart is None or now - state.last_restart >= backoff
        ):
            restart.append(name)
            state.last_restart = now
            state.restarts += 1
        if now - state.unhealthy_since >= replace_after:
            report.append(name)
    for name in set(tracked) - set(observed):
        tracked[name].unhealthy_since = None
    return Decision(tuple(restart), tuple(report), tuple(resume))


def metrics_text(tracked: Mapping[str, Tracked], *, reported: bool, last_run: float) -> str:
    """The node exporter textfile collector's file (Prometheus text format)."""

    def label(name: str) -> str:
        return '{container="' + name.replace("\\", "\\\\").replace('"', '\\"') + '"}'

    out = [
        f"# HELP {METRIC_PREFIX}_restarts_total Restarts of a container Docker reported unhealthy.",
        f"# TYPE {METRIC_PREFIX}_restarts_total counter",
        *(
            f"{METRIC_PREFIX}_restarts_total{label(n)} {t.restarts}"
            for n, t in sorted(tracked.items())
        ),
        f"# HELP {METRIC_PREFIX}_health_resumed_total Times Docker's stopped health checks of a"
        " container were started again.",
        f"# TYPE {METRIC_PREFIX}_health_resumed_total counter",
        *(
            f"{METRIC_PREFIX}_health_resumed_total{label(n)} {t.resumes}"
            for n, t in sorted(tracked.items())
        ),
        f"# HELP {METRIC_PREFIX}_unhealthy Whether the container is failing its health check now.",
        f"# TYPE {METRIC_PREFIX}_unhealthy gauge",
        *(
            f"{METRIC_PREFIX}_unhealthy{label(n)} {int(t.unhealthy_since is not None)}"
            for n, t in sorted(tracked.items())
        ),
        f"# HELP {METRIC_PREFIX}_reported_unhealthy Whether the instance reported itself Unhealthy"
        " to its auto-scaling group.",
        f"# TYPE {METRIC_PREFIX}_reported_unhealthy gauge",
        f"{METRIC_PREFIX}_reported_unhealthy {int(reported)}",
        f"# HELP {METRIC_PREFIX}_last_run_timestamp_seconds Unix time of the last cycle.",
        f"# TYPE {METRIC_PREFIX}_last_run_timestamp_seconds gauge",
        f"{METRIC_PREFIX}_last_run_timestamp_seconds {last_run:.3f}",
    ]
    return "\n".join(out) + "\n"


@dataclass
class Settings:
    """What the service reads from its JSON configuration (the docker role writes it)."""

    label: str = "ideation-service"
    services: list[str] = field(default_factory=list)  # values of `label`; empty: any value
    interval: float = 10.0
    backoff: float = 60.0
    replace_after: float = 600.0
    stop_timeout: int = 30
    instance_id: str = ""
    region: str = ""
    endpoint_url: str = ""
    metrics_file: str = "/var/lib/prometheus/node-exporter/ideation_container_watchdog.prom"
    docker: str = "docker"

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text())
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        return cls(**data)


def watched_health(
    settings: Settings, run: Any = subprocess.run, now: float | None = None
) -> dict[str, str]:
    """Running containers carrying the label (one of `services` if given): name -> health
    (health_status; a paused container is left out)."""
    now = time.time() if now is None else now
    listed = run(
        [settings.docker, "ps", "--filter", f"label={settings.label}", "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    names = [n for n in listed.stdout.split() if n]
    if not names:
        return {}
    inspected = run(
        [settings.docker, "inspect", *names], capture_output=True, text=True, check=True, timeout=30
    )
    health: dict[str, str] = {}
    for container in json.loads(inspected.stdout):
        service = (container.get("Config", {}).get("Labels") or {}).get(settings.label, "")
        if settings.services and service not in settings.services:
            continue
        state = container.get("State", {})
        if not state.get("Running") or state.get("Paused"):
            continue
        health[container["Name"].lstrip("/")] = health_status(container, now)
    return health


def _timestamp(text: str) -> float | None:
    """Docker's RFC 3339 time with nanoseconds, as Unix time (None for its zero time)."""
    match = _RFC3339.match(text or "")
    if match is None or text.startswith("0001-"):
        return None
    head, fraction, zone = match.groups()
    stamp = f"{head}.{(fraction or '0')[:6]}{'+00:00' if zone == 'Z' else zone}"
    return datetime.fromisoformat(stamp).timestamp()


def health_status(container: Mapping[str, Any], now: float) -> str:
    """`healthy`, `unhealthy`, `starting`, `none` (no health check) or `stale`: the last check
    ended more than STALE_INTERVALS intervals ago (Docker's monitor stopped, moby/moby#41871)."""
    state = container.get("State", {})
    health = state.get("Health")
    if not health:
        return "none"
    check = (container.get("Config") or {}).get("Healthcheck") or {}
    interval = (check.get("Interval") or 0) / 1e9 or DEFAULT_HEALTH_INTERVAL
    timeout = (check.get("Timeout") or 0) / 1e9 or DEFAULT_HEALTH_INTERVAL
    log = health.get("Log") or []
    last = _timestamp(log[-1].get("End", "")) if log else None
    since = last if last is not None else _timestamp(state.get("StartedAt", ""))
    if since is not None and now - since > STALE_INTERVALS * (interval + timeout):
        return STALE
    return str(health.get("Status", "none"))


def report_unhealthy(settings: Settings, client: Any = None) -> None:
    """SetInstanceHealth Unhealthy for this instance: its group replaces it (respecting the
    group's health-check grace period, so a booting instance is left to finish)."""
    if client is None:
        import boto3  # only hosts that report need it

        client = boto3.client(
            "autoscaling",
            region_name=settings.region or None,
            endpoint_url=settings.endpoint_url or None,
        )
    client.set_instance_health(
        InstanceId=settings.instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=True
    )


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)


class Watchdog:
    """One host's watchdog: its memory between cycles, and one cycle."""

    def __init__(self, settings: Settings, run: Any = subprocess.run, client: Any = None) -> None:
        self.settings = settings
        self.run = run
        self.client = client
        self.tracked: dict[str, Tracked] = {}
        self.reported = False

    def cycle(self, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        decision = decide(
            self.tracked,
            watched_health(self.settings, self.run, now),
            now,
            backoff=self.settings.backoff,
            replace_after=self.settings.replace_after,
        )
        for name in decision.restart:
            LOG.warning("%s is unhealthy: restarting it", name)
            result = self.run(
                [self.settings.docker, "restart", "--time", str(self.settings.stop_timeout), name],
                capture_output=True, text=True, check=False,
                timeout=self.settings.stop_timeout + 60,
            )  # fmt: skip
            if result.returncode != 0:
                LOG.error("restarting %s failed: %s", name, result.stderr.strip()[:200])
        for name in decision.resume:
            LOG.warning("%s: Docker runs no health check any more: starting it again", name)
            for action in ("pause", "unpause"):
                result = self.run(
                    [self.settings.docker, action, name],
                    capture_output=True, text=True, check=False, timeout=60,
                )  # fmt: skip
                if result.returncode != 0:
                    LOG.error("%s %s failed: %s", action, name, result.stderr.strip()[:200])
        if decision.report and not self.reported:
            if self.settings.instance_id:
                LOG.error(
                    "%s unhealthy for %.0f s through restarts: reporting instance %s Unhealthy",
                    ", ".join(decision.report), self.settings.replace_after,
                    self.settings.instance_id,
                )  # fmt: skip
                try:
                    report_unhealthy(self.settings, self.client)
                    self.reported = True
                except Exception as error:  # any AWS error: retried next cycle
                    LOG.error("SetInstanceHealth failed (retried next cycle): %s", error)
            else:
                LOG.error(
                    "%s unhealthy through restarts; no instance id to report", decision.report
                )
        write_atomically(
            Path(self.settings.metrics_file),
            metrics_text(self.tracked, reported=self.reported, last_run=now),
        )
        return decision


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--once", action="store_true", help="one cycle, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    settings = Settings.load(args.config)
    watchdog = Watchdog(settings)
    while True:
        try:
            watchdog.cycle()
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            LOG.error("cycle failed (Docker not answering?): %s", error)
            if args.once:
                return 1
        if args.once:
            return 0
        time.sleep(settings.interval)
