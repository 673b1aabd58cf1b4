"""nginx's rate-limit allowlist (plugins/plugin_utils/upstream_sync.py, filter
ratelimit_allowlist): the monitoring and bastion hosts' own addresses, not the subnets they share
with the API, Celery and nginx hosts; from the inventory, and from the groups as hosts are replaced.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.ratelimit_allowlist import (
    ratelimit_allowlist,
)
from ansible_collections.ideation.platform.plugins.plugin_utils import upstream_sync
from ansible_collections.ideation.platform.plugins.plugin_utils.upstream_sync import (
    Settings,
    Syncer,
    allowlist_entries,
    allowlisted_addresses,
    render_allowlist,
)
from botocore.exceptions import ClientError
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = ROOT / "roles/nginx/templates/etc/nginx/ideation/ratelimit-allowlist.conf.j2"
REGION = "eu-west-1"
LOOPBACK = ["127.0.0.0/8", "::1/128"]
ROLES = ["monitoring", "bastion"]


def admitted(entries: Sequence[str], address: str) -> bool:
    return any(ipaddress.ip_address(address) in ipaddress.ip_network(e) for e in entries)


# --- from the inventory (nginx_upstream_source inventory) ---------------------------------------

# prod's layout: monitoring shares the private subnets with the API and Celery hosts, the bastion
# the public ones with nginx.
HOSTVARS = {
    "api-i-1": {"private_ip_address": "10.0.10.5"},
    "celery-i-2": {"private_ip_address": "10.0.11.6"},
    "nginx-i-3": {"private_ip_address": "10.0.1.7", "ansible_host": "10.0.1.7"},
    "monitoring-i-4": {"private_ip_address": "10.0.10.9"},
    "monitoring-i-5": {"private_ip_address": "10.0.11.9"},
    "bastion-i-6": {"private_ip_address": "10.0.1.4", "ansible_host": "203.0.113.4"},
}
GROUPS = {
    "api": ["api-i-1"],
    "celery": ["celery-i-2"],
    "nginx": ["nginx-i-3"],
    "monitoring": ["monitoring-i-4", "monitoring-i-5"],
    "bastion": ["bastion-i-6"],
}


def test_the_monitoring_and_bastion_hosts_are_admitted_not_their_neighbours() -> None:
    entries = ratelimit_allowlist(LOOPBACK, GROUPS, HOSTVARS, ROLES)
    assert entries == ["10.0.1.4/32", "10.0.10.9/32", "10.0.11.9/32", *LOOPBACK]
    for neighbour in ("10.0.10.5", "10.0.11.6", "10.0.1.7", "10.0.10.10", "10.0.20.5"):
        assert not admitted(entries, neighbour), neighbour
    # The bastion by its private address, not the public one Ansible reaches it at.
    assert not admitted(entries, "203.0.113.4")


def test_extra_networks_and_ipv6_hosts_are_kept_and_a_missing_group_has_no_host(render) -> None:
    hostvars = {**HOSTVARS, "bastion-i-6": {"ansible_host": "fd00::6"}}
    groups = {k: v for k, v in GROUPS.items() if k != "monitoring"}
    expression = "{{ nets | ideation.platform.ratelimit_allowlist(groups, hv, roles) }}"
    entries = render(
        expression, nets=[*LOOPBACK, "172.18.0.1/32"], groups=groups, hv=hostvars, roles=ROLES
    )
    assert entries == ["127.0.0.0/8", "172.18.0.1/32", "::1/128", "fd00::6/128"]


@pytest.mark.parametrize(
    ("networks", "hostvars", "roles", "message"),
    [
        (LOOPBACK, {**HOSTVARS, "bastion-i-6": {}}, ROLES, "host 'bastion-i-6' of group 'bastion'"),
        (
            LOOPBACK,
            {**HOSTVARS, "bastion-i-6": {"ansible_host": "bastion.example.org"}},
            ROLES,
            "has no private IP address .* got 'bastion.example.org'",
        ),
        (
            ["10.0.10.9/24"],
            HOSTVARS,
            ROLES,
            r"not a CIDR block \(no host bits set\): '10.0.10.9/24'",
        ),
        ("127.0.0.0/8", HOSTVARS, ROLES, "the networks must be a list"),
        (LOOPBACK, HOSTVARS, "bastion", "roles must be a list of inventory group names"),
    ],
)
def test_bad_input_fails_with_the_filters_name(networks, hostvars, roles, message) -> None:
    with pytest.raises(
        AnsibleFilterError, match=f"^ideation.platform.ratelimit_allowlist: .*{message}"
    ):
        ratelimit_allowlist(networks, GROUPS, hostvars, roles)


def test_the_file_is_the_role_templates_format(render: Any) -> None:
    """Inventory mode (the template) and group mode (the service) write the same entries."""
    entries = ["10.0.1.4/32", "127.0.0.0/8", "fd00::6/128"]
    from_template = render(
        TEMPLATE.read_text(),
        ansible_managed="Ansible managed",
        nginx_ratelimit_allowlist=entries,
        nginx_ratelimit_allowlist_roles=ROLES,
    )
    ours = render_allowlist(entries, header="# x")
    body = [line for line in from_template.splitlines() if not line.startswith("#")]
    assert body == ours.splitlines()[1:] == ["10.0.1.4/32 0;", "127.0.0.0/8 0;", "fd00::6/128 0;"]


def test_in_service_and_standby_instances_count_whatever_their_health() -> None:
    states = ["InService", "Standby", "Pending", "Pending:Wait", "Terminating", "Terminating:Wait"]
    instances = [
        {"InstanceId": f"i-{n}", "LifecycleState": state, "HealthStatus": "Unhealthy"}
        for n, state in enumerate(states)
    ]
    addresses = {f"i-{n}": f"10.0.10.{n + 1}" for n in range(len(states))}
    del addresses["i-1"]  # the Standby one is no longer running in EC2
    instances.append({"InstanceId": "i-9", "LifecycleState": "Standby"})
    addresses["i-9"] = "10.0.10.99"
    assert allowlisted_addresses(instances, addresses) == ["10.0.10.1", "10.0.10.99"]


# --- from the auto-scaling groups (nginx_upstream_source asg), moto in process -----------------


def _group(ec2: Any, autoscaling: Any, name: str, subnet: str, size: int) -> list[str]:
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name},
        MinSize=0,
        MaxSize=5,
        DesiredCapacity=size,
        VPCZoneIdentifier=subnet,
    )
    return in_group(autoscaling, name)


def in_group(autoscaling: Any, name: str) -> list[str]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return sorted(i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"])


def address_of(ec2: Any, ids: Sequence[str]) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=list(ids))["Reservations"]
    return {i["InstanceId"]: i["PrivateIpAddress"] for r in reservations for i in r["Instances"]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """api (2), monitoring (1) and bastion (1) groups launching into one shared subnet."""
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
        ids = {
            role: _group(ec2, autoscaling, f"ideation-test-{role}", subnet, size)
            for role, size in (("api", 2), ("monitoring", 1), ("bastion", 1))
        }
        yield {"ec2": ec2, "autoscaling": autoscaling, "ids": ids}


GROUP_NAMES = ["ideation-test-monitoring", "ideation-test-bastion"]


def listed(aws: dict[str, Any], groups: Sequence[str] = tuple(GROUP_NAMES)) -> list[str]:
    lister = upstream_sync.allowlist_lister(aws["autoscaling"], aws["ec2"], list(groups))
    return allowlist_entries(LOOPBACK, lister())


def test_the_groups_hosts_are_admitted_and_the_api_hosts_in_their_subnet_are_not(aws) -> None:
    ids = aws["ids"]
    address = address_of(aws["ec2"], [i for role in ids.values() for i in role])
    entries = listed(aws)
    mine = sorted(address[i] for i in ids["monitoring"] + ids["bastion"])
    assert entries == sorted(f"{a}/32" for a in mine) + LOOPBACK
    for api in ids["api"]:
        assert not admitted(entries, address[api]), api


def test_a_bastion_in_standby_stays_and_a_replaced_host_s_address_goes(aws) -> None:
    ec2, autoscaling, ids = aws["ec2"], aws["autoscaling"], aws["ids"]
    aws["autoscaling"].enter_standby(
        AutoScalingGroupName="ideation-test-bastion",
        InstanceIds=ids["bastion"],
        ShouldDecrementDesiredCapacity=True,
    )
    bastion = address_of(ec2, ids["bastion"])[ids["bastion"][0]]
    assert admitted(listed(aws), bastion)

    # EC2 terminates the monitoring host; the group launches a replacement with a new address.
    (old,) = ids["monitoring"]
    old_address = address_of(ec2, [old])[old]
    ec2.terminate_instances(InstanceIds=[old])
    (new,) = in_group(autoscaling, "ideation-test-monitoring")
    assert new != old
    new_address = address_of(ec2, [new])[new]
    assert new_address != old_address
    entries = listed(aws)
    assert admitted(entries, new_address)
    assert not admitted(entries, old_address)
    assert admitted(entries, bastion)


def test_a_misspelt_group_is_an_error_not_an_empty_allowlist(aws) -> None:
    with pytest.raises(
        upstream_sync.SyncError, match="no auto-scaling group named ideation-test-bastian"
    ):
        listed(aws, ["ideation-test-monitoring", "ideation-test-bastian"])


class FakeCommands:
    """Stands in for `nginx -t` and `systemctl reload nginx`; records the staged allowlist."""

    def __init__(self) -> None:
        self.tested: list[str] = []
        self.reloads = 0

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess:
        if argv[0] == "nginx":
            staging = Path(argv[-1]).parent / "ideation"
            assert (staging / "upstream.conf").is_file()  # the whole tree is tested
            self.tested.append((staging / "ratelimit-allowlist.conf").read_text())
            return subprocess.CompletedProcess(argv, 0, "", "")
        self.reloads += 1
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_a_sync_follows_the_allowlist_groups_and_keeps_the_last_file_on_errors(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    nginx = tmp_path / "nginx"
    (nginx / "ideation").mkdir(parents=True)
    for name in ("nginx.conf", "ideation/http.conf", "ideation/servers.conf"):
        (nginx / name).write_text(f"# {name}\n")
    settings = Settings(
        group="ideation-test-api",
        nginx_dir=str(nginx),
        staging_dir=str(tmp_path / "staging"),
        metrics_file=str(tmp_path / "missing" / "sync.prom"),
        lock_file=str(tmp_path / "lock"),
        allowlist_file="ideation/ratelimit-allowlist.conf",
        allowlist_groups=list(GROUP_NAMES),
        allowlist_networks=[*LOOPBACK, "172.18.0.1/32"],
    )
    ec2, autoscaling, ids = aws["ec2"], aws["autoscaling"], aws["ids"]
    groups = list(GROUP_NAMES)

    def servers() -> list[upstream_sync.Server]:
        instances, addresses = upstream_sync.describe_group(autoscaling, ec2, "ideation-test-api")
        return upstream_sync.servers_from_group(instances, addresses, name_prefix="api", port=8000)

    calls: set[str] = set()
    for client, service in ((autoscaling, "autoscaling"), (ec2, "ec2")):
        client.meta.events.register(
            f"before-call.{service}.*",
            lambda model, service=service, **_: calls.add(f"{service}:{model.name}"),
        )
    commands = FakeCommands()
    syncer = Syncer(
        settings,
        servers,
        run=commands,
        allowlist_lister=upstream_sync.allowlist_lister(autoscaling, ec2, groups),
    )
    live = nginx / "ideation" / "ratelimit-allowlist.conf"
    upstream = nginx / "ideation" / "upstream.conf"
    assert syncer.cycle() == "changed"
    first = live.read_text()
    assert commands.tested == [first] and commands.reloads == 1
    assert "172.18.0.1/32 0;" in first and "127.0.0.0/8 0;" in first
    assert syncer.cycle() == "unchanged"
    assert commands.reloads == 1
    # What the nginx tier's instance policy must allow (tests/unit/test_iam_policies.py).
    assert calls == {"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"}

    # The monitoring host is replaced: one test, one swap, one reload; the upstream is untouched.
    (old,) = ids["monitoring"]
    old_address = address_of(ec2, [old])[old]
    ec2.terminate_instances(InstanceIds=[old])
    (new,) = in_group(autoscaling, "ideation-test-monitoring")
    api_list = upstream.read_text()
    assert syncer.cycle() == "changed"
    second = live.read_text()
    assert f"{address_of(ec2, [new])[new]}/32 0;" in second
    assert f"{old_address}/32 0;" not in second
    assert commands.tested[-1] == second and commands.reloads == 2
    assert upstream.read_text() == api_list

    # A group that cannot be listed (a misspelt name, an AWS error) keeps the last allowlist...
    groups.append("ideation-test-bastian")
    outcome = syncer.cycle()
    assert outcome.startswith("error: allowlist: there is no auto-scaling group named"), outcome
    assert live.read_text() == second and commands.reloads == 2
    groups.pop()

    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Describe")

    event = "before-call.ec2.DescribeInstances"
    ec2.meta.events.register(event, throttle)
    assert "Throttling" in syncer.cycle()
    assert live.read_text() == second and commands.reloads == 2
    ec2.meta.events.unregister(event, throttle)

    # ...while the upstream list still follows its group: an api host goes, the allowlist stays.
    ec2.terminate_instances(InstanceIds=[ids["api"][0]])
    groups.append("ideation-test-bastian")
    assert syncer.cycle().startswith("error: allowlist:")
    assert upstream.read_text() != api_list
    assert live.read_text() == second
    assert commands.reloads == 3
