"""nginx's API upstream list from the api auto-scaling group, and its rate-limit allowlist from the
monitoring and bastion groups: which instances get traffic, which addresses are never limited,
which answer their readiness probe, the files nginx reads, and one sync cycle (list, probe,
render, test the whole tree, swap, reload).

Standard library only, no Ansible import: the nginx role installs this very file next to
/usr/local/sbin/ideation-upstream-sync (Debian's python3 with python3-boto3), and the unit tests
import it on the controller. Documented in roles/nginx/README.md ("Upstreams from the group").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import http.client
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG = logging.getLogger("ideation-upstream-sync")

IN_SERVICE = "InService"
STANDBY = "Standby"
HEALTHY = "Healthy"
METRIC_PREFIX = "ideation_upstream_sync"
# DescribeInstances accepts at most 200 values in one filter.
_FILTER_CHUNK = 100
# Probes of one cycle run in parallel, at most this many at once.
_PROBE_THREADS = 16


class SyncError(Exception):
    """The group could not be listed, or its list cannot be used; the live list stays."""


@dataclass(frozen=True, order=True)
class Server:
    """One line of the upstream block. `down` servers get no new requests: drained (Standby), or
    `not_ready` (an InService instance failing its readiness probe)."""

    name: str
    address: str
    port: int
    down: bool = False
    not_ready: bool = False


def servers_from_group(
    instances: Iterable[Mapping[str, Any]],
    addresses: Mapping[str, str],
    *,
    name_prefix: str,
    port: int,
) -> list[Server]:
    """The upstream servers for the group's instances (DescribeAutoScalingGroups' Instances).

    InService and Healthy: in rotation. Standby (an operator's or a runbook's drain): listed
    `down`, named `(drained)` as a drained inventory host is, so the runbooks that read the live
    file see it as drained. Anything else (Pending, Pending:Wait, Terminating, Terminating:Wait,
    unhealthy) and an instance EC2 does not report running with a private address: not listed.
    Names are those of the aws_ec2 inventory (`<Role tag>-<instance id>`); sorted by name, so the
    order AWS answers in never changes the file.
    """
    servers = []
    for instance in instances:
        instance_id = instance["InstanceId"]
        state = instance.get("LifecycleState")
        address = addresses.get(instance_id)
        if address is None:
            continue
        if state == IN_SERVICE and instance.get("HealthStatus", HEALTHY) == HEALTHY:
            down = False
        elif state == STANDBY:
            down = True
        else:
            continue
        servers.append(Server(f"{name_prefix}-{instance_id}", address, port, down))
    return sorted(set(servers))


def down_note(server: Server) -> str:
    """Why a server is out of rotation, as its upstream line's comment and the log name it."""
    return " (not ready)" if server.not_ready else " (drained)" if server.down else ""


def server_line(server: Server, *, max_fails: int, fail_timeout: str) -> str:
    """One `server` directive with its comment, as templates/.../upstream.conf.j2 writes it."""
    host = f"[{server.address}]" if ":" in server.address else server.address
    down = " down" if server.down else ""
    return (
        f"    server {host}:{server.port} max_fails={max_fails} fail_timeout={fail_timeout}"
        f"{down}; # {server.name}{down_note(server)}"
    )


def render_upstream(
    servers: Sequence[Server],
    *,
    max_fails: int,
    fail_timeout: str,
    keepalive: int,
    header: str = "",
) -> str:
    """The whole upstream file: `header` (comment lines), then the block the template renders."""
    lines = [header.rstrip("\n")] if header else []
    lines += ["upstream ideation_api {", "    least_conn;"]
    lines += [server_line(s, max_fails=max_fails, fail_timeout=fail_timeout) for s in servers]
    lines += [
        f"    keepalive {keepalive};",
        "    keepalive_requests 1000;",
        "    keepalive_timeout 60s;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def echo(value: Any, limit: int = 40) -> str:
    """`repr(value)` cut to `limit` characters (as plugin_utils/echo.py does; this file is installed
    alone on the nginx host, so it imports nothing of the collection)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Loopback: the host's own checks and a proxy on it are never limited.
LOOPBACK = ("127.0.0.0/8", "::1/128")
# Instances whose address the allowlist admits: InService, and Standby (an operator on a bastion
# in Standby, a monitoring host taken out for maintenance, is still that host).
ALLOWLISTED_STATES = (IN_SERVICE, STANDBY)


def allowlisted_addresses(
    instances: Iterable[Mapping[str, Any]], addresses: Mapping[str, str]
) -> list[str]:
    """The private addresses of a group's InService and Standby instances (whatever their health)
    that EC2 reports running; a leaving or pending instance and a terminated one are not admitted.
    """
    return sorted(
        {
            addresses[i["InstanceId"]]
            for i in instances
            if i.get("LifecycleState") in ALLOWLISTED_STATES and i["InstanceId"] in addresses
        }
    )


def inventory_addresses(
    groups: Mapping[str, Iterable[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
    roles: Iterable[str],
) -> list[str]:
    """The private addresses of the hosts of the inventory groups `roles`, picked as the role's
    templates pick an API host's (``private_ip_address``, else ``ansible_host``). A group that is
    absent has no host; a host without an IP address is an error, never a silent hole."""
    if isinstance(roles, (str, bytes)) or not isinstance(roles, Iterable):
        raise ValueError(f"roles must be a list of inventory group names, got {echo(roles)}")
    found = []
    for role in roles:
        for host in groups.get(str(role)) or []:
            variables = hostvars.get(host) or {}
            address = variables.get("private_ip_address") or variables.get("ansible_host") or host
            try:
                found.append(str(ipaddress.ip_address(str(address))))
            except ValueError:
                raise ValueError(
                    f"host {echo(host)} of group {echo(role)} has no private IP address"
                    f" (private_ip_address or ansible_host), got {echo(address)}"
                ) from None
    return found


def allowlist_entries(networks: Iterable[str], addresses: Iterable[str]) -> list[str]:
    """The allowlist: `networks` (CIDR blocks, e.g. loopback and an operator's extra ones) and each
    host address as a /32 or /128, unique and sorted by family and address (the order nginx's
    `geo` ignores, so that the file changes only when the set does)."""
    if isinstance(networks, (str, bytes)):
        raise ValueError(f"the networks must be a list of CIDR blocks, got {echo(networks)}")
    found: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for network in networks:
        try:
            found.add(ipaddress.ip_network(str(network)))
        except ValueError:
            raise ValueError(f"not a CIDR block (no host bits set): {echo(network)}") from None
    for address in addresses:
        try:
            found.add(ipaddress.ip_network(ipaddress.ip_address(str(address))))
        except ValueError:
            raise ValueError(f"not an IP address: {echo(address)}") from None
    return [str(n) for n in sorted(found, key=lambda n: (n.version, n))]


def render_allowlist(entries: Sequence[str], *, header: str = "") -> str:
    """The allowlist file: `header` (comment lines), then one `geo` entry per network (value 0,
    not limited), as templates/.../ratelimit-allowlist.conf.j2 writes it; http.conf's `geo`
    includes it."""
    lines = [header.rstrip("\n")] if header else []
    lines += [f"{entry} 0;" for entry in entries]
    return "\n".join(lines) + "\n"


def needs_update(live: str | None, rendered: str) -> bool:
    """Whether the live file must be replaced: only when its text differs (a missing file does)."""
    return live != rendered


def in_rotation(servers: Iterable[Server]) -> int:
    """How many servers get new requests."""
    return sum(1 for s in servers if not s.down)


@dataclass(frozen=True)
class Readiness:
    """A server's readiness after rise/fall, as HAProxy keeps it: `ready`, and how many probes in
    a row have disagreed with it so far."""

    ready: bool = True
    streak: int = 0


def next_readiness(state: Readiness, probe_ok: bool, *, rise: int, fall: int) -> Readiness:
    """The readiness after one more probe: a ready server turns not ready after `fall` failed
    probes in a row, a not-ready one ready after `rise` good ones in a row; a probe that agrees
    with the state starts the count again. A new server starts ready (`Readiness()`): its
    lifecycle hook already waited for its /ready."""
    if probe_ok == state.ready:
        return Readiness(state.ready)
    streak = state.streak + 1
    if streak >= (rise if probe_ok else fall):
        return Readiness(probe_ok)
    return Readiness(state.ready, streak)


def apply_readiness(
    servers: Sequence[Server], ready: Mapping[str, bool]
) -> tuple[list[Server], bool]:
    """The servers with those in rotation that are not `ready` marked down (`not_ready`), and
    whether every server in rotation is not ready, in which case all stay in rotation (fail open:
    a shared fault such as a database outage fails every /ready, and an empty upstream would turn
    /health and static files into 502 too). Drained servers and unknown names are left as they are.
    """
    candidates = {s.name for s in servers if not s.down}
    out = {name for name in candidates if not ready.get(name, True)}
    if candidates and out == candidates:
        return list(servers), True
    return [
        dataclasses.replace(s, down=True, not_ready=True) if s.name in out else s for s in servers
    ], False


def probe(server: Server, path: str, timeout: float) -> bool:
    """Whether `GET http://address:port<path>` answers 2xx within `timeout` seconds (per socket
    operation). http.client, not urllib: no proxy from the environment stands in between."""
    connection = http.client.HTTPConnection(server.address, server.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "ideation-upstream-sync"})
        return 200 <= connection.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def probe_all(servers: Sequence[Server], prober: Callable[[Server], bool]) -> dict[str, bool]:
    """`prober`'s answer for each server by name; all at once, so a cycle lasts one timeout."""
    if not servers:
        return {}
    with ThreadPoolExecutor(max_workers=min(_PROBE_THREADS, len(servers))) as pool:
        return dict(zip([s.name for s in servers], pool.map(prober, servers), strict=True))


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def describe_group(
    autoscaling: Any, ec2: Any, group_name: str
) -> tuple[list[dict], dict[str, str]]:
    """The group's instances and the private address of each one EC2 reports running.

    `autoscaling` and `ec2` are boto3 clients. A missing group is an error: an empty list from a
    misspelt name must never empty nginx's upstream. Instances are looked up with an instance-id
    filter, which, unlike InstanceIds, does not fail on an instance that is already gone.
    """
    paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
    groups = [
        group
        for page in paginator.paginate(AutoScalingGroupNames=[group_name])
        for group in page["AutoScalingGroups"]
    ]
    if not groups:
        raise SyncError(f"there is no auto-scaling group named {group_name}")
    instances = groups[0].get("Instances", [])
    wanted = sorted(
        i["InstanceId"] for i in instances if i.get("LifecycleState") in (IN_SERVICE, STANDBY)
    )
    addresses: dict[str, str] = {}
    for chunk in _chunks(wanted, _FILTER_CHUNK):
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "instance-id", "Values": list(chunk)},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    address = instance.get("PrivateIpAddress")
                    if address and instance.get("State", {}).get("Name") == "running":
                        addresses[instance["InstanceId"]] = address
    return instances, addresses


def _label(name: str, value: str) -> str:
    return f'{name}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def metrics_text(
    *,
    group: str,
    last_success: float,
    servers: int,
    errors: int,
    reloads: int,
    ready: Mapping[str, bool] | None = None,
    not_ready: int = 0,
    all_not_ready: bool = False,
) -> str:
    """The node exporter textfile collector's file (Prometheus text format). `ready`: each probed
    server's readiness by name (none when probing is off)."""
    by_group = _label("group", group)

    def one(value: str) -> list[tuple[str, str]]:
        return [("{" + by_group + "}", value)]

    per_server = [
        ("{" + by_group + "," + _label("server", name) + "}", str(int(ok)))
        for name, ok in sorted((ready or {}).items())
    ]
    rows = [
        (
            "last_success_timestamp_seconds",
            "gauge",
            "Unix time the upstream list and the allowlist last matched their groups"
            " (0: not since the start).",
            one(f"{last_success:.3f}"),
        ),
        (
            "servers",
            "gauge",
            "API servers in rotation in the live upstream list.",
            one(str(servers)),
        ),
        (
            "errors_total",
            "counter",
            "Sync cycles that kept a last good file (AWS error, nginx -t, reload failed).",
            one(str(errors)),
        ),
        ("reloads_total", "counter", "nginx reloads for a changed file.", one(str(reloads))),
        (
            "server_ready",
            "gauge",
            "1 if the API server passes its readiness probe (after rise/fall), else 0.",
            per_server,
        ),
        (
            "servers_not_ready",
            "gauge",
            "API servers held down for failing their readiness probe.",
            one(str(not_ready)),
        ),
        (
            "all_not_ready",
            "gauge",
            "1 if every API server in rotation fails its readiness probe (all kept: fail open).",
            one(str(int(all_not_ready))),
        ),
    ]
    out = []
    for name, kind, help_text, samples in (row for row in rows if row[3]):
        metric = f"{METRIC_PREFIX}_{name}"
        out += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        out += [f"{metric}{labels} {value}" for labels, value in samples]
    return "\n".join(out) + "\n"


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file in the same directory and rename it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


@dataclass
class Settings:
    """What the service reads from its JSON configuration (the role writes it)."""

    group: str
    name_prefix: str = "api"
    port: int = 8000
    max_fails: int = 3
    fail_timeout: str = "10s"
    keepalive: int = 32
    region: str = ""
    endpoint_url: str = ""
    interval: float = 5.0
    nginx_dir: str = "/etc/nginx"
    tree: list[str] = field(
        default_factory=lambda: ["nginx.conf", "ideation/http.conf", "ideation/servers.conf"]
    )
    upstream_file: str = "ideation/upstream.conf"
    # The rate-limit allowlist: `allowlist_networks` and the addresses of `allowlist_groups`'
    # InService and Standby instances, written to `allowlist_file` (empty: not this service's).
    allowlist_file: str = ""
    allowlist_groups: list[str] = field(default_factory=list)
    allowlist_networks: list[str] = field(default_factory=lambda: list(LOOPBACK))
    # The readiness probe of each InService server: GET ready_path (empty: no probe); down after
    # ready_fall failed probes in a row, back after ready_rise good ones.
    ready_path: str = ""
    ready_timeout: float = 2.0
    ready_rise: int = 2
    ready_fall: int = 2
    staging_dir: str = "/etc/nginx/.upstream-sync"
    metrics_file: str = "/var/lib/prometheus/node-exporter/ideation_upstream_sync.prom"
    lock_file: str = "/run/lock/ideation-upstream-sync.lock"
    test_command: list[str] = field(default_factory=lambda: ["nginx", "-t", "-q"])
    reload_command: list[str] = field(default_factory=lambda: ["systemctl", "reload", "nginx"])

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Settings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        return cls(**data)

    def __post_init__(self) -> None:
        if self.ready_path and not self.ready_path.startswith("/"):
            raise ValueError(f"ready_path must start with /, got {echo(self.ready_path)}")
        if self.ready_timeout <= 0 or min(self.ready_rise, self.ready_fall) < 1:
            raise ValueError(
                "ready_timeout must be above 0 and ready_rise and ready_fall at least 1, got"
                f" {self.ready_timeout}, {self.ready_rise}, {self.ready_fall}"
            )

    def header(self) -> str:
        return (
            "# Written by ideation-upstream-sync (ideation.platform.nginx): the InService"
            f"\n# instances of the group '{self.group}'; Standby ones are down (drained), and so"
            "\n# are those failing their readiness probe (not ready) unless all of them do."
            "\n# Do not edit: the next change of the group replaces this file."
        )

    def allowlist_header(self) -> str:
        groups = ", ".join(f"'{g}'" for g in self.allowlist_groups) or "none"
        return (
            "# Written by ideation-upstream-sync (ideation.platform.nginx): never rate limited,"
            "\n# nginx_ratelimit_allowlist and the InService and Standby instances of the groups"
            f"\n# {groups}. Do not edit: the next change of a group replaces this file."
        )


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


class Syncer:
    """One nginx host's sync: keeps the last good list and the counters between cycles."""

    def __init__(
        self,
        settings: Settings,
        lister: Callable[[], list[Server]],
        run: Runner = _run,
        clock: Callable[[], float] = time.time,
        allowlist_lister: Callable[[], list[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.lister = lister
        self.allowlist_lister = allowlist_lister
        self.run = run
        self.clock = clock
        self.last_success = 0.0
        self.errors = 0
        self.reloads = 0
        self.reload_pending = False
        self.readiness: dict[str, Readiness] = {}
        self.not_ready = 0
        self.all_not_ready = False

    @property
    def live_path(self) -> Path:
        return Path(self.settings.nginx_dir) / self.settings.upstream_file

    def live_text(self, name: str | None = None) -> str | None:
        """The live text of `name` (relative to nginx_dir; the upstream file by default)."""
        path = Path(self.settings.nginx_dir) / name if name else self.live_path
        try:
            return path.read_text()
        except FileNotFoundError:
            return None

    def live_servers(self) -> int:
        text = self.live_text() or ""
        return sum(
            1
            for line in text.splitlines()
            if line.strip().startswith("server ") and " down;" not in line
        )

    def cycle(self) -> str:
        """One sync: 'unchanged', 'changed' or 'error: ...'. Always rewrites the metric file."""
        with self._locked():
            try:
                outcome = self._sync()
            except Exception as error:  # any failure keeps the live list; the metric shows it
                self.errors += 1
                outcome = f"error: {error}"
                LOG.error("%s", outcome)
            else:
                self.last_success = self.clock()
            self.write_metrics()
        return outcome

    def _wanted(self) -> tuple[dict[str, str], list[str], list[Server]]:
        """Each managed file's new text (relative name -> text), why any could not be made, and
        the servers listed.

        The upstream list and the allowlist are listed apart: an error in one keeps that file's
        last good text and lets the other follow its groups."""
        s = self.settings
        wanted: dict[str, str] = {}
        errors: list[str] = []
        servers: list[Server] = []
        try:
            servers = self.lister()
            if in_rotation(servers) == 0:
                raise SyncError(f"no InService instance in {s.group}: keeping the last list")
            servers = self._follow_readiness(servers)
            wanted[s.upstream_file] = render_upstream(
                servers,
                max_fails=s.max_fails,
                fail_timeout=s.fail_timeout,
                keepalive=s.keepalive,
                header=s.header(),
            )
        except Exception as error:  # kept; reported once the other file is done
            errors.append(str(error))
        if s.allowlist_file:
            try:
                if self.allowlist_lister is None:
                    raise SyncError("no lister for the allowlist's groups")
                entries = allowlist_entries(s.allowlist_networks, self.allowlist_lister())
                wanted[s.allowlist_file] = render_allowlist(entries, header=s.allowlist_header())
            except Exception as error:  # kept; reported once the other file is done
                errors.append(f"allowlist: {error}; keeping the last allowlist")
        return wanted, errors, servers

    def _probe(self, server: Server) -> bool:
        return probe(server, self.settings.ready_path, self.settings.ready_timeout)

    def _follow_readiness(self, servers: list[Server]) -> list[Server]:
        """Probe the servers in rotation, step each one's readiness (a server no longer listed in
        rotation is forgotten), and mark the not-ready ones down unless none would be left."""
        s = self.settings
        if not s.ready_path:
            return servers
        results = probe_all([x for x in servers if not x.down], self._probe)
        before = self.readiness
        self.readiness = {
            name: next_readiness(
                before.get(name, Readiness()), ok, rise=s.ready_rise, fall=s.ready_fall
            )
            for name, ok in results.items()
        }
        self._log_turns(before)
        servers, all_not_ready = apply_readiness(
            servers, {name: state.ready for name, state in self.readiness.items()}
        )
        if all_not_ready != self.all_not_ready:
            LOG.warning(
                "every API server fails %s: all kept in rotation (fail open)"
                if all_not_ready
                else "not every API server fails %s any more",
                s.ready_path,
            )
        self.all_not_ready = all_not_ready
        self.not_ready = sum(1 for x in servers if x.not_ready)
        return servers

    def _log_turns(self, before: Mapping[str, Readiness]) -> None:
        """Log each server that turned ready or not ready in this cycle."""
        s = self.settings
        for name, state in self.readiness.items():
            if state.ready != before.get(name, Readiness()).ready:
                count = s.ready_rise if state.ready else s.ready_fall
                verdict = "passed: back in rotation" if state.ready else "failed: not ready"
                LOG.warning("%s: %d probes of %s in a row %s", name, count, s.ready_path, verdict)

    def _sync(self) -> str:
        s = self.settings
        wanted, errors, servers = self._wanted()
        changed = {n: t for n, t in wanted.items() if needs_update(self.live_text(n), t)}
        if changed:
            # Before the role has installed its tree (a first converge) nginx does not read the
            # files yet: they are written untested, and the role tests them with the whole tree.
            tree_installed = all((Path(s.nginx_dir) / name).is_file() for name in s.tree[1:])
            if tree_installed:
                self._test(changed)
            for name, text in changed.items():
                path = Path(s.nginx_dir) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(path, text)
            if s.upstream_file in changed:
                LOG.info(
                    "upstream list of %s now: %s",
                    s.group,
                    ", ".join(f"{x.name}{down_note(x)}" for x in servers) or "empty",
                )
            if s.allowlist_file in changed:
                LOG.info(
                    "rate-limit allowlist now: %s",
                    ", ".join(
                        line.split()[0]
                        for line in changed[s.allowlist_file].splitlines()
                        if line and not line.startswith("#")
                    ),
                )
            if tree_installed:
                self.reload_pending = True
        if self.reload_pending:
            self._reload()
        if errors:
            raise SyncError("; ".join(errors))
        return "changed" if changed else "unchanged"

    def _test(self, changed: Mapping[str, str]) -> None:
        """Copy the live tree into the staging directory with the `changed` files in it, and have
        nginx test it there as a whole."""
        s = self.settings
        staging = Path(s.staging_dir)
        shutil.rmtree(staging, ignore_errors=True)
        managed = [s.upstream_file] + ([s.allowlist_file] if s.allowlist_file else [])
        for name in [*s.tree, *managed]:
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            if name in changed:
                target.write_text(changed[name])
            elif (Path(s.nginx_dir) / name).is_file():
                shutil.copyfile(Path(s.nginx_dir) / name, target)
        conf = staging / s.tree[0]
        result = self.run([*s.test_command, "-c", str(conf)])
        if result.returncode != 0:
            raise SyncError(
                f"nginx rejected the new list ({', '.join(sorted(changed))}; kept in {staging}):"
                f" {(result.stderr or '').strip()}"
            )
        shutil.rmtree(staging, ignore_errors=True)

    def _reload(self) -> None:
        result = self.run(self.settings.reload_command)
        if result.returncode != 0:
            raise SyncError(f"reloading nginx failed: {(result.stderr or '').strip()}")
        self.reload_pending = False
        self.reloads += 1

    def write_metrics(self) -> None:
        path = Path(self.settings.metrics_file)
        if not path.parent.is_dir():
            LOG.warning("no textfile collector directory %s: metrics not written", path.parent)
            return
        write_atomically(
            path,
            metrics_text(
                group=self.settings.group,
                last_success=self.last_success,
                servers=self.live_servers(),
                errors=self.errors,
                reloads=self.reloads,
                ready={name: state.ready for name, state in self.readiness.items()},
                not_ready=self.not_ready,
                all_not_ready=self.all_not_ready,
            ),
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One cycle at a time on a host (the service and a converge's --once)."""
        with open(self.settings.lock_file, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def aws_clients(settings: Settings) -> tuple[Any, Any]:
    """boto3 Auto Scaling and EC2 clients, made once (connections reused from cycle to cycle)."""
    import boto3  # only here: the pure functions above need no AWS library
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    options = {
        "region_name": settings.region or None,
        "endpoint_url": settings.endpoint_url or None,
        "config": config,
    }
    return boto3.client("autoscaling", **options), boto3.client("ec2", **options)


def group_lister(settings: Settings, autoscaling: Any, ec2: Any) -> Callable[[], list[Server]]:
    """The upstream servers of the api group, listed anew on each call."""

    def _list() -> list[Server]:
        instances, addresses = describe_group(autoscaling, ec2, settings.group)
        return servers_from_group(
            instances, addresses, name_prefix=settings.name_prefix, port=settings.port
        )

    return _list


def allowlist_lister(autoscaling: Any, ec2: Any, groups: Sequence[str]) -> Callable[[], list[str]]:
    """The addresses the allowlist admits from `groups`, listed anew on each call. A missing
    group fails the whole listing (describe_group), so a misspelt name never empties the list."""

    def _list() -> list[str]:
        found: set[str] = set()
        for group in groups:
            found.update(allowlisted_addresses(*describe_group(autoscaling, ec2, group)))
        return sorted(found)

    return _list


def main(argv: Sequence[str] | None = None) -> int:
    """ideation-upstream-sync --config FILE [--once]: sync every `interval` seconds, or once."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", required=True, help="JSON settings written by the role")
    parser.add_argument("--once", action="store_true", help="one cycle; exit 1 if it failed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    settings = Settings.from_mapping(json.loads(Path(args.config).read_text()))
    autoscaling, ec2 = aws_clients(settings)
    syncer = Syncer(
        settings,
        group_lister(settings, autoscaling, ec2),
        allowlist_lister=allowlist_lister(autoscaling, ec2, settings.allowlist_groups),
    )
    while True:
        outcome = syncer.cycle()
        if args.once:
            print(outcome)
            return 1 if outcome.startswith("error") else 0
        time.sleep(settings.interval)
