"""nginx's upstream list from the api group (plugins/plugin_utils/upstream_sync.py, the module the
nginx role installs with /usr/local/sbin/ideation-upstream-sync): which instances get traffic,
the file it writes (the role template's format), and a sync cycle against moto in process.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils import upstream_sync
from ansible_collections.ideation.platform.plugins.plugin_utils.upstream_sync import (
    Readiness,
    Server,
    Settings,
    Syncer,
    render_upstream,
    servers_from_group,
)
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = ROOT / "roles/nginx/templates/etc/nginx/ideation/upstream.conf.j2"
STATES = ["InService", "Standby", "Pending", "Pending:Wait", "Terminating", "Terminating:Wait"]
REGION = "eu-west-1"
GROUP = "ideation-test-api"

instances_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "InstanceId": st.from_regex(r"i-[0-9a-f]{8}", fullmatch=True),
            "LifecycleState": st.sampled_from(STATES),
            "HealthStatus": st.sampled_from(["Healthy", "Unhealthy"]),
        }
    ),
    max_size=12,
    unique_by=lambda i: i["InstanceId"],
)


def addresses_for(instances: list[dict[str, Any]], missing: int = 0) -> dict[str, str]:
    """A private address for each instance but the first `missing` (not running any more)."""
    return {
        i["InstanceId"]: f"10.0.{n // 250}.{n % 250 + 1}"
        for n, i in enumerate(instances)
        if n >= missing
    }


@given(instances_strategy, st.integers(0, 3), st.randoms())
def test_only_in_service_healthy_running_instances_get_traffic(instances, missing, rnd):
    addresses = addresses_for(instances, missing)
    servers = servers_from_group(instances, addresses, name_prefix="api", port=8000)
    by_name = {s.name: s for s in servers}
    assert len(by_name) == len(servers)
    for instance in instances:
        server = by_name.get(f"api-{instance['InstanceId']}")
        running = instance["InstanceId"] in addresses
        state = instance["LifecycleState"]
        if running and state == "InService" and instance["HealthStatus"] == "Healthy":
            assert server is not None
            assert not server.down
            assert server.address == addresses[instance["InstanceId"]]
        elif running and state == "Standby":
            assert server is not None
            assert server.down
        else:
            assert server is None
    # The order AWS answers in never changes the list.
    shuffled = list(instances)
    rnd.shuffle(shuffled)
    assert servers_from_group(shuffled, addresses, name_prefix="api", port=8000) == servers


servers_strategy = st.lists(
    st.builds(
        Server,
        name=st.from_regex(r"api-i-[0-9a-f]{4}", fullmatch=True),
        address=st.sampled_from(["10.0.10.5", "10.0.11.7", "fd00::5", "10.0.10.6"]),
        port=st.sampled_from([8000, 8001]),
        down=st.booleans(),
    ),
    max_size=6,
)


def render_file(servers: Sequence[Server]) -> str:
    return render_upstream(servers, max_fails=3, fail_timeout="10s", keepalive=32, header="# x")


@given(servers_strategy, servers_strategy)
def test_the_file_changes_exactly_when_the_servers_do(a, b):
    a, b = sorted(set(a)), sorted(set(b))
    assert upstream_sync.needs_update(render_file(a), render_file(b)) == (a != b)
    assert not upstream_sync.needs_update(render_file(a), render_file(a))
    assert upstream_sync.needs_update(None, render_file(a))


def test_the_file_is_the_role_templates_format(render: Any) -> None:
    """Inventory mode (the template) and group mode (the service) write the same block."""
    servers = [
        Server("api-i-0abc", "10.0.10.5", 8000),
        Server("api-i-0abd", "10.0.11.6", 8000, down=True),
        Server("api-v6", "fd00::7", 8001),
    ]
    variables = {
        "ansible_managed": "Ansible managed",
        "nginx_upstream_group": "api",
        "nginx_upstream_max_fails": 2,
        "nginx_upstream_fail_timeout": "7s",
        "nginx_upstream_keepalive": 16,
        "_nginx_upstream": [
            {"name": s.name, "address": s.address, "port": s.port, "drained": s.down}
            for s in servers
        ],
    }
    from_template = render(TEMPLATE.read_text(), **variables)
    ours = render_upstream(servers, max_fails=2, fail_timeout="7s", keepalive=16)
    block = from_template[from_template.index("upstream ideation_api {") :]
    assert block.rstrip("\n") == ours.rstrip("\n")
    assert "server [fd00::7]:8001 max_fails=2 fail_timeout=7s; # api-v6" in ours
    assert "server 10.0.11.6:8000 max_fails=2 fail_timeout=7s down; # api-i-0abd (drained)" in ours


def test_the_runbooks_read_a_standby_instance_as_drained() -> None:
    """playbooks/runbooks/tasks/nginx-read-drained.yml's pattern finds Standby instances, and not
    a server held down for failing its readiness probe (no operator drained it)."""
    import re

    runbook = (ROOT / "playbooks/runbooks/tasks/nginx-read-drained.yml").read_text()
    pattern = re.search(r"regex_findall', '([^']+)'", runbook).group(1)
    instances = [
        {"InstanceId": "i-1", "LifecycleState": "InService", "HealthStatus": "Healthy"},
        {"InstanceId": "i-2", "LifecycleState": "Standby", "HealthStatus": "Healthy"},
    ]
    servers = servers_from_group(instances, addresses_for(instances), name_prefix="api", port=8000)
    text = render_file([*servers, Server("api-i-3", "10.0.0.3", 8000, down=True, not_ready=True)])
    assert "down; # api-i-3 (not ready)" in text
    assert re.findall(pattern, text) == ["api-i-2"]


# --- against moto, in process -------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """An api group of 4 in moto: one put in Standby, one terminated in EC2 (and replaced)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24")["Subnet"]["SubnetId"]
        ec2.create_launch_template(
            LaunchTemplateName=GROUP,
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=GROUP,
            LaunchTemplate={"LaunchTemplateName": GROUP},
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=4,
            VPCZoneIdentifier=subnet,
        )
        ids = sorted(
            i["InstanceId"]
            for i in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
                "AutoScalingGroups"
            ][0]["Instances"]
        )
        autoscaling.enter_standby(
            AutoScalingGroupName=GROUP, InstanceIds=[ids[1]], ShouldDecrementDesiredCapacity=True
        )
        ec2.terminate_instances(InstanceIds=[ids[2]])
        yield {"ec2": ec2, "autoscaling": autoscaling, "ids": ids}


def addresses_of(ec2: Any, ids: Sequence[str]) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=list(ids))["Reservations"]
    return {i["InstanceId"]: i["PrivateIpAddress"] for r in reservations for i in r["Instances"]}


def listed(aws: dict[str, Any]) -> list[Server]:
    instances, addresses = upstream_sync.describe_group(aws["autoscaling"], aws["ec2"], GROUP)
    return servers_from_group(instances, addresses, name_prefix="api", port=8000)


def group_states(aws: dict[str, Any]) -> dict[str, str]:
    groups = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    return {
        i["InstanceId"]: i["LifecycleState"] for i in groups["AutoScalingGroups"][0]["Instances"]
    }


def test_the_listing_follows_the_group(aws: dict[str, Any]) -> None:
    ids = aws["ids"]
    states = group_states(aws)
    # The group replaced the terminated instance (as AWS does) and dropped it from its list.
    assert states[ids[1]] == "Standby"
    assert ids[2] not in states
    in_service = sorted(i for i, state in states.items() if state == "InService")
    assert len(in_service) == 3
    address = addresses_of(aws["ec2"], [*in_service, ids[1]])
    expected = [Server(f"api-{i}", address[i], 8000) for i in in_service]
    expected.append(Server(f"api-{ids[1]}", address[ids[1]], 8000, down=True))
    assert listed(aws) == sorted(expected)
    assert f"api-{ids[2]}" not in {s.name for s in listed(aws)}


def test_an_instance_ec2_no_longer_runs_is_not_listed(aws: dict[str, Any]) -> None:
    """Between EC2 terminating an instance and the group noticing, the group still lists it."""
    instances, addresses = upstream_sync.describe_group(aws["autoscaling"], aws["ec2"], GROUP)
    assert aws["ids"][2] not in addresses  # EC2 reports it terminated
    gone = {"InstanceId": aws["ids"][2], "LifecycleState": "InService", "HealthStatus": "Healthy"}
    servers = servers_from_group([*instances, gone], addresses, name_prefix="api", port=8000)
    assert servers == servers_from_group(instances, addresses, name_prefix="api", port=8000)


def test_a_missing_group_is_an_error_not_an_empty_list(aws: dict[str, Any]) -> None:
    with pytest.raises(upstream_sync.SyncError, match="no auto-scaling group named nope"):
        upstream_sync.describe_group(aws["autoscaling"], aws["ec2"], "nope")


class FakeCommands:
    """Stands in for `nginx -t` and `systemctl reload nginx`; records the staged upstream file."""

    def __init__(self) -> None:
        self.tested: list[str] = []
        self.reloads = 0
        self.reject = False

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess:
        if argv[0] == "nginx":
            staged = Path(argv[-1]).parent / "ideation" / "upstream.conf"
            self.tested.append(staged.read_text())
            code, err = (1, "nginx: [emerg] rejected") if self.reject else (0, "")
            return subprocess.CompletedProcess(argv, code, "", err)
        self.reloads += 1
        return subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def tree(tmp_path: Path) -> Settings:
    nginx = tmp_path / "nginx"
    (nginx / "ideation").mkdir(parents=True)
    for name in ("nginx.conf", "ideation/http.conf", "ideation/servers.conf"):
        (nginx / name).write_text(f"# {name}\n")
    (tmp_path / "textfile").mkdir()
    return Settings(
        group=GROUP,
        nginx_dir=str(nginx),
        staging_dir=str(tmp_path / "staging"),
        metrics_file=str(tmp_path / "textfile" / "ideation_upstream_sync.prom"),
        lock_file=str(tmp_path / "lock"),
        test_command=["nginx", "-t", "-q"],
        reload_command=["systemctl", "reload", "nginx"],
    )


def metric(settings: Settings, name: str, server: str = "") -> float:
    for line in Path(settings.metrics_file).read_text().splitlines():
        if line.startswith(f"ideation_upstream_sync_{name}{{") and f'server="{server}"' in (
            line if server else 'server=""'
        ):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {server} in the metric file")


def test_a_sync_tests_swaps_reloads_and_keeps_the_last_good_list(
    aws: dict[str, Any], tree: Settings
) -> None:
    commands = FakeCommands()
    now = [1000.0]
    syncer = Syncer(tree, lambda: listed(aws), run=commands, clock=lambda: now[0])
    live = Path(tree.nginx_dir) / "ideation" / "upstream.conf"

    assert syncer.cycle() == "changed"
    good = live.read_text()
    assert commands.tested == [good]
    assert commands.reloads == 1
    assert good.count(" down; # ") == 1
    assert (metric(tree, "servers"), metric(tree, "errors_total")) == (3, 0)
    assert metric(tree, "last_success_timestamp_seconds") == 1000
    assert not Path(tree.staging_dir).exists()

    now[0] = 1005.0
    assert syncer.cycle() == "unchanged"
    assert (len(commands.tested), commands.reloads) == (1, 1)
    assert metric(tree, "last_success_timestamp_seconds") == 1005

    # The AWS API fails: the live list stays, the error counts, the timestamp does not move.
    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Describe")

    aws["autoscaling"].meta.events.register(
        "before-call.autoscaling.DescribeAutoScalingGroups", throttle
    )
    now[0] = 1010.0
    assert syncer.cycle().startswith("error: An error occurred (Throttling)")
    assert live.read_text() == good
    assert commands.reloads == 1
    assert metric(tree, "errors_total") == 1
    assert metric(tree, "last_success_timestamp_seconds") == 1005
    assert metric(tree, "servers") == 3
    aws["autoscaling"].meta.events.unregister(
        "before-call.autoscaling.DescribeAutoScalingGroups", throttle
    )

    # The Standby instance comes back; nginx rejects the tree: nothing is swapped or reloaded.
    aws["autoscaling"].exit_standby(AutoScalingGroupName=GROUP, InstanceIds=[aws["ids"][1]])
    commands.reject = True
    assert "nginx rejected the new list" in syncer.cycle()
    assert live.read_text() == good
    assert commands.reloads == 1
    assert metric(tree, "errors_total") == 2
    assert (Path(tree.staging_dir) / "ideation" / "upstream.conf").read_text() != good

    # Accepted now: three servers in rotation, one reload more.
    commands.reject = False
    assert syncer.cycle() == "changed"
    assert " down;" not in live.read_text()
    assert (commands.reloads, metric(tree, "servers")) == (2, 4)


def test_an_empty_group_keeps_the_last_list(aws: dict[str, Any], tree: Settings) -> None:
    commands = FakeCommands()
    syncer = Syncer(tree, lambda: listed(aws), run=commands)
    assert syncer.cycle() == "changed"
    good = (Path(tree.nginx_dir) / "ideation" / "upstream.conf").read_text()
    in_service = [i for i, state in group_states(aws).items() if state == "InService"]
    aws["autoscaling"].enter_standby(
        AutoScalingGroupName=GROUP, InstanceIds=in_service, ShouldDecrementDesiredCapacity=True
    )
    assert "no InService instance" in syncer.cycle()
    assert (Path(tree.nginx_dir) / "ideation" / "upstream.conf").read_text() == good
    assert commands.reloads == 1


def test_a_first_converge_writes_the_file_before_the_tree_exists(
    aws: dict[str, Any], tree: Settings
) -> None:
    """Before the role installed its tree nothing reads the file: written, not tested."""
    (Path(tree.nginx_dir) / "ideation" / "http.conf").unlink()
    commands = FakeCommands()
    assert Syncer(tree, lambda: listed(aws), run=commands).cycle() == "changed"
    assert (Path(tree.nginx_dir) / "ideation" / "upstream.conf").exists()
    assert (commands.tested, commands.reloads) == ([], 0)


def test_the_settings_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown settings: grup"):
        Settings.from_mapping({"group": GROUP, "grup": "x"})


# --- readiness: rise/fall, fail open, probes against local HTTP servers ------------------------


@given(st.lists(st.booleans(), max_size=30), st.integers(1, 4), st.integers(1, 4))
def test_readiness_turns_only_after_rise_or_fall_probes_in_a_row(probes, rise, fall):
    state, history = Readiness(), [True]
    for ok in probes:
        state = upstream_sync.next_readiness(state, ok, rise=rise, fall=fall)
        history.append(state.ready)
    for n in range(1, len(history)):
        if history[n] != history[n - 1]:
            needed = rise if history[n] else fall
            # It turned towards the probe just made, after `needed` probes in a row that agreed,
            # each of which found it still in the other state.
            window = probes[n - needed : n]
            assert n >= needed and window == [history[n]] * needed
            assert history[n - needed : n] == [history[n - 1]] * needed


def test_a_new_server_is_ready_until_fall_probes_fail() -> None:
    state = Readiness()
    assert state.ready
    state = upstream_sync.next_readiness(state, False, rise=2, fall=2)
    assert state.ready
    state = upstream_sync.next_readiness(state, False, rise=2, fall=2)
    assert not state.ready
    # One good probe between failures does not bring it back, nor does it count towards rise.
    for ok, ready in [(True, False), (False, False), (True, False), (True, True)]:
        state = upstream_sync.next_readiness(state, ok, rise=2, fall=2)
        assert state.ready is ready


def test_not_ready_servers_go_down_unless_none_would_be_left() -> None:
    a, b = Server("api-a", "10.0.0.1", 8000), Server("api-b", "10.0.0.2", 8000)
    standby = Server("api-s", "10.0.0.3", 8000, down=True)
    servers = [a, b, standby]

    held, all_failing = upstream_sync.apply_readiness(servers, {"api-a": False, "api-b": True})
    assert held == [dataclasses.replace(a, down=True, not_ready=True), b, standby]
    assert not all_failing

    # Every server in rotation fails (a database outage): all stay, the Standby one stays down.
    held, all_failing = upstream_sync.apply_readiness(servers, {"api-a": False, "api-b": False})
    assert (held, all_failing) == (servers, True)

    # A server not probed yet counts as ready; a drained one is never marked not ready.
    held, _ = upstream_sync.apply_readiness(servers, {"api-a": False, "api-s": False})
    assert held == [dataclasses.replace(a, down=True, not_ready=True), b, standby]


class Host(ThreadingHTTPServer):
    """An API host's /ready on 127.0.0.1: answers `status`, records the paths asked for."""

    def __init__(self, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), ReadyHandler)
        self.status = status
        self.paths: list[str] = []
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        """The host is gone: its port refuses connections."""
        self.shutdown()
        self.server_close()


class ReadyHandler(BaseHTTPRequestHandler):
    server: Host

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Hosts(dict):
    """A local Host per server name, made on first sight with `new_status`."""

    new_status = 200

    def __missing__(self, name: str) -> Host:
        self[name] = Host(self.new_status)
        return self[name]


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    found = Hosts()
    yield found
    for host in found.values():
        host.stop()


def local_lister(aws: dict[str, Any], hosts: Hosts):
    """The group's servers as moto lists them, each answering on its own local Host."""

    def _list() -> list[Server]:
        return [
            dataclasses.replace(s, address="127.0.0.1", port=hosts[s.name].port)
            for s in listed(aws)
        ]

    return _list


@pytest.fixture
def probing(tree: Settings) -> Settings:
    return dataclasses.replace(tree, ready_path="/ready", ready_timeout=0.5)


def synced(aws: dict[str, Any], hosts: Hosts, settings: Settings) -> tuple[Syncer, FakeCommands]:
    """A Syncer over the local hosts after its first cycle, which wrote the list; its commands."""
    commands = FakeCommands()
    syncer = Syncer(settings, local_lister(aws, hosts), run=commands)
    assert syncer.cycle() == "changed"
    return syncer, commands


def upstream_text(settings: Settings) -> str:
    return (Path(settings.nginx_dir) / "ideation" / "upstream.conf").read_text()


def in_service_names(aws: dict[str, Any]) -> list[str]:
    return sorted(f"api-{i}" for i, state in group_states(aws).items() if state == "InService")


def down_names(settings: Settings, why: str = "not ready") -> list[str]:
    text = upstream_text(settings)
    return [
        line.split("# ")[1].split()[0]
        for line in text.splitlines()
        if line.endswith(f"({why})") and " down;" in line
    ]


def test_a_host_failing_ready_is_down_after_fall_and_back_after_rise(
    aws: dict[str, Any], hosts: Hosts, probing: Settings
) -> None:
    syncer, commands = synced(aws, hosts, probing)
    in_service = in_service_names(aws)
    sick, standby = in_service[0], f"api-{aws['ids'][1]}"
    assert (commands.reloads, down_names(probing), metric(probing, "servers")) == (1, [], 3)

    hosts[sick].status = 503
    # One failure is not `fall`: the file stays, nothing is reloaded.
    assert syncer.cycle() == "unchanged"
    assert (commands.reloads, metric(probing, "server_ready", sick)) == (1, 1)
    assert syncer.cycle() == "changed"
    assert down_names(probing) == [sick]
    assert down_names(probing, "drained") == [standby]
    assert commands.reloads == 2
    assert metric(probing, "servers") == 2
    assert metric(probing, "servers_not_ready") == 1
    assert metric(probing, "server_ready", sick) == 0
    assert metric(probing, "all_not_ready") == 0
    assert syncer.cycle() == "unchanged"

    hosts[sick].status = 200
    assert syncer.cycle() == "unchanged"
    assert syncer.cycle() == "changed"
    assert (down_names(probing), commands.reloads, metric(probing, "servers")) == ([], 3, 3)
    assert metric(probing, "server_ready", sick) == 1
    # Every InService host was asked for /ready once a cycle; the Standby one never.
    assert {name: len(hosts[name].paths) for name in hosts} == {
        **{name: 6 for name in in_service},
        standby: 0,
    }
    assert set(hosts[sick].paths) == {"/ready"}


def test_when_every_host_fails_ready_all_stay_in_rotation(
    aws: dict[str, Any], hosts: Hosts, probing: Settings
) -> None:
    syncer, commands = synced(aws, hosts, probing)
    in_service = in_service_names(aws)
    good = upstream_text(probing)

    # A database outage: every /ready answers 503, and one host is gone altogether.
    for name in in_service:
        hosts[name].status = 503
    hosts[in_service[2]].stop()
    for _ in range(3):
        assert syncer.cycle() == "unchanged"
    assert upstream_text(probing) == good
    assert commands.reloads == 1
    assert metric(probing, "all_not_ready") == 1
    assert metric(probing, "servers_not_ready") == 0
    assert [metric(probing, "server_ready", n) for n in in_service] == [0, 0, 0]

    # One host is ready again (after rise): only it gets traffic.
    hosts[in_service[0]].status = 200
    assert syncer.cycle() == "unchanged"
    assert syncer.cycle() == "changed"
    assert down_names(probing) == in_service[1:]
    assert (metric(probing, "all_not_ready"), metric(probing, "servers_not_ready")) == (0, 2)
    assert metric(probing, "servers") == 1


def test_a_new_instance_is_in_rotation_until_fall_probes_fail(
    aws: dict[str, Any], hosts: Hosts, probing: Settings
) -> None:
    syncer = synced(aws, hosts, probing)[0]
    before = set(hosts)
    hosts.new_status = 503
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=4)
    assert syncer.cycle() == "changed"
    (new,) = set(hosts) - before
    assert (down_names(probing), metric(probing, "servers")) == ([], 4)
    assert syncer.cycle() == "changed"
    assert down_names(probing) == [new]


def test_probing_off_asks_no_host(aws: dict[str, Any], hosts: Hosts, tree: Settings) -> None:
    assert Syncer(tree, local_lister(aws, hosts), run=FakeCommands()).cycle() == "changed"
    assert hosts and all(host.paths == [] for host in hosts.values())
    assert metric(tree, "servers_not_ready") == 0
    # No probe, no per-server family (not even its HELP line without a sample).
    assert "server_ready" not in Path(tree.metrics_file).read_text()


def silent_port() -> socket.socket:
    """A listening socket that never accepts: connections complete, no answer ever comes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


def test_probes_time_out_in_parallel() -> None:
    listener = silent_port()
    try:
        port = listener.getsockname()[1]
        servers = [Server(f"api-{n}", "127.0.0.1", port) for n in range(8)]
        started = time.monotonic()
        found = upstream_sync.probe_all(
            servers, lambda s: upstream_sync.probe(s, "/ready", timeout=0.3)
        )
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert found == {s.name: False for s in servers}
    assert 0.3 <= elapsed < 1.5  # one timeout, not eight


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ready_path": "ready"}, "ready_path must start with /"),
        ({"ready_fall": 0}, "ready_rise and ready_fall at least 1"),
        ({"ready_timeout": 0}, "ready_timeout must be above 0"),
    ],
)
def test_the_settings_reject_a_bad_probe(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_mapping({"group": GROUP, **settings})
