"""The dev twin's IMDSv2 stand-in (scripts/twin/imds.py) answers each machine what EC2's
instance metadata service would, read from a real moto server: callers are told apart by their
loopback source address (127.0.0.2, .3, ...), each mapped to one instance's private address."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

from twin import imds

API, BASTION, WORKER, SEALED, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", \
    "127.0.0.6"
API_USER_DATA = b"#cloud-config\nruncmd:\n  - [touch, /run/api-marker]\n# \xc3\xa9t\xc3\xa9\n"
WORKER_USER_DATA = b"#!/bin/sh\necho worker > /run/worker-marker\n"
CLOUD_IMAGE = "ideation/debian12-cloud"  # the twin's base AMI, with Debian's cloud-init 22.4
# Debian's cloud-init, in the image, finds its Ec2 datasource as its network stage does
# (images/cloud/90-twin.cfg), runs it against the stand-in and prints what it read.
CLOUD_INIT = r"""
import json, sys
from cloudinit import distros, helpers, sources

paths = helpers.Paths({"cloud_dir": "/tmp/cloud", "run_dir": "/tmp/run"})
config = {"datasource": {"Ec2": {"metadata_urls": [sys.argv[1]], "max_wait": 10, "timeout": 2}}}
(found_class,) = sources.list_sources(["Ec2"], [sources.DEP_FILESYSTEM, sources.DEP_NETWORK],
                                      ["", "cloudinit.sources"])
source = found_class(config, distros.fetch("debian")("debian", {}, paths), paths)
found = source._get_data()
print(json.dumps({
    "found": found, "version": source._crawled_metadata.get("_metadata_api_version"),
    "cloud_name": source.cloud_name, "instance_id": source.get_instance_id() if found else None,
    "zone": source.availability_zone, "region": source.region,
    "keys": source.get_public_ssh_keys() if found else [],
    "user_data": (source.userdata_raw or b"").decode(),
    "tags": (source.metadata or {}).get("tags")}))
"""
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


@dataclass
class Twin:
    server: imds.ImdsServer
    vpc: str
    key: str
    instances: dict[str, dict[str, Any]]  # caller address -> instance (DescribeInstances)
    settings: dict[str, Any]  # what the server was started with, to start another

    @property
    def address(self) -> tuple[str, int]:
        return self.server.server_address[:2]


@dataclass
class Endpoint:
    """Any stand-in to call, by address."""

    address: tuple[str, int]


def _tags(**tags: str) -> list[dict[str, Any]]:
    return [{"ResourceType": "instance",
             "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}]


@pytest.fixture(scope="module")
def twin(moto_server: Any) -> Iterator[Twin]:
    ec2, iam = moto_server.client("ec2"), moto_server.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24",
                               AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    key = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    ec2.import_key_pair(KeyName="dev", PublicKeyMaterial=f"{key} someone@laptop".encode())
    iam.create_role(RoleName="api-role", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="api-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="api-profile", RoleName="api-role")
    iam.create_role(RoleName="worker-role", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="worker-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="worker-profile",
                                     RoleName="worker-role")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def run(ip: str, **kwargs: Any) -> str:
        return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 SubnetId=subnet, PrivateIpAddress=ip,
                                 **kwargs)["Instances"][0]["InstanceId"]

    ids = {
        API: run("10.9.1.10", KeyName="dev", UserData=API_USER_DATA.decode(),
                 IamInstanceProfile={"Name": "api-profile"},
                 MetadataOptions={"HttpTokens": "required", "InstanceMetadataTags": "enabled"},
                 TagSpecifications=_tags(Name="api-1", Role="api")),
        BASTION: run("10.9.1.11", MetadataOptions={"HttpTokens": "optional"},
                     TagSpecifications=_tags(Name="bastion-1", Role="bastion")),
        SEALED: run("10.9.1.12", MetadataOptions={"HttpEndpoint": "disabled"}),
    }
    # As the platform's groups do: IMDSv2, metadata tags and the profile set in the template.
    ec2.create_launch_template(LaunchTemplateName="worker", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.small", "KeyName": "dev",
        "UserData": base64.b64encode(WORKER_USER_DATA).decode(),
        "IamInstanceProfile": {"Name": "worker-profile"},
        "MetadataOptions": {"HttpTokens": "required", "InstanceMetadataTags": "enabled"},
        "TagSpecifications": _tags(Role="worker")})
    autoscaling = moto_server.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="worker", MinSize=1, MaxSize=1, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": "worker", "Version": "$Latest"},
        VPCZoneIdentifier=subnet)
    ids[WORKER] = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["worker"])["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
    found = {instance["InstanceId"]: instance for reservation in ec2.describe_instances(
        InstanceIds=list(ids.values()))["Reservations"] for instance in reservation["Instances"]}
    instances = {caller: found[instance_id] for caller, instance_id in ids.items()}
    settings = {
        "endpoint_url": moto_server.url, "region": moto_server.region, "vpc_id": vpc,
        "session": boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing"),
        "address_map": {caller: instance["PrivateIpAddress"]
                        for caller, instance in instances.items()}}
    server = imds.serve("127.0.0.1", 0, **settings)
    try:
        yield Twin(server, vpc, key, instances, settings)
    finally:
        server.stop()


def call(twin: Twin | Endpoint, caller: str, method: str, path: str,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One request from the loopback address `caller`."""
    host, port = twin.address
    connection = http.client.HTTPConnection(host, port, timeout=10, source_address=(caller, 0))
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def token(twin: Twin | Endpoint, caller: str, ttl: int = 60) -> str:
    status, body, _ = call(twin, caller, "PUT", "/latest/api/token",
                           {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
    assert status == 200
    return body.decode()


def get(twin: Twin, caller: str, path: str) -> tuple[int, str]:
    status, body, _ = call(twin, caller, "GET", path,
                           {"X-aws-ec2-metadata-token": token(twin, caller)})
    return status, body.decode()


def test_without_a_token_imdsv1_is_refused_unless_the_instance_allows_it(twin: Twin) -> None:
    assert call(twin, API, "GET", "/latest/meta-data/instance-id")[0] == 401
    assert call(twin, WORKER, "GET", "/latest/meta-data/instance-id")[0] == 401  # template
    status, body, headers = call(twin, BASTION, "GET", "/latest/meta-data/instance-id")
    assert (status, body.decode()) == (200, twin.instances[BASTION]["InstanceId"])
    assert headers["Content-Type"] == "text/plain"


def test_a_token_answers_only_the_machine_it_was_issued_to(twin: Twin) -> None:
    mine = token(twin, API)
    path = "/latest/meta-data/instance-id"
    status, body, _ = call(twin, API, "GET", path, {"X-aws-ec2-metadata-token": mine})
    assert (status, body.decode()) == (200, twin.instances[API]["InstanceId"])
    assert call(twin, BASTION, "GET", path, {"X-aws-ec2-metadata-token": mine})[0] == 401
    # An invalid token is refused even where IMDSv1 is allowed.
    assert call(twin, BASTION, "GET", path, {"X-aws-ec2-metadata-token": "forged"})[0] == 401


def test_tokens_expire_after_their_ttl() -> None:
    now = [1000.0]
    tokens = imds.Tokens(clock=lambda: now[0])
    issued = tokens.issue("10.9.1.10", 5)
    assert tokens.valid(issued, "10.9.1.10")
    assert not tokens.valid(issued, "10.9.1.11")
    now[0] += 5
    assert not tokens.valid(issued, "10.9.1.10")


@pytest.mark.parametrize(("headers", "status"), [
    ({"X-aws-ec2-metadata-token-ttl-seconds": "1"}, 200),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, 200),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "0"}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "21601"}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "-5"}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "ten"}, 400),
    ({}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "203.0.113.9"}, 403),
])
def test_token_requests_are_checked_as_ec2_does(twin: Twin, headers: dict[str, str],
                                                status: int) -> None:
    answer, body, reply_headers = call(twin, API, "PUT", "/latest/api/token", headers)
    assert answer == status
    if status == 200:
        ttl = headers["X-aws-ec2-metadata-token-ttl-seconds"]
        assert reply_headers["X-aws-ec2-metadata-token-ttl-seconds"] == ttl
        assert len(body) >= 40


def test_a_token_comes_only_from_latest(twin: Twin) -> None:
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    assert call(twin, API, "PUT", "/2021-03-23/api/token", headers)[0] == 403


def test_a_disabled_endpoint_and_an_unknown_caller(twin: Twin) -> None:
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    assert call(twin, SEALED, "PUT", "/latest/api/token", headers)[0] == 403
    # No instance has the stranger's address: a token, then nothing to read.
    assert get(twin, STRANGER, "/latest/meta-data/instance-id")[0] == 404


def test_tags_answer_per_machine_when_the_instance_enables_them(twin: Twin) -> None:
    assert get(twin, API, "/latest/meta-data/tags/instance/") == (200, "Name\nRole")
    assert get(twin, API, "/latest/meta-data/tags/instance/Name") == (200, "api-1")
    assert get(twin, BASTION, "/latest/meta-data/tags/instance/Role")[0] == 404
    assert "tags/" not in get(twin, BASTION, "/latest/meta-data/")[1].split()
    status, keys = get(twin, WORKER, "/latest/meta-data/tags/instance")
    assert status == 200
    assert {"Role", "aws:autoscaling:groupName"} <= set(keys.split("\n"))
    assert get(twin, WORKER, "/latest/meta-data/tags/instance/aws:autoscaling:groupName") == (
        200, "worker")


def test_role_credentials_work_against_moto_and_name_the_machine(twin: Twin,
                                                                 moto_server: Any) -> None:
    issued = {}
    for caller, role in ((API, "api-role"), (WORKER, "worker-role")):
        assert get(twin, caller, "/latest/meta-data/iam/security-credentials/") == (200, role)
        status, text = get(twin, caller, f"/latest/meta-data/iam/security-credentials/{role}")
        assert status == 200
        creds = issued[caller] = json.loads(text)
        assert creds["Code"] == "Success" and creds["Type"] == "AWS-HMAC"
        assert creds["Expiration"].endswith("Z")
        sts = boto3.client("sts", region_name=moto_server.region, endpoint_url=moto_server.url,
                           aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["Token"])
        arn = sts.get_caller_identity()["Arn"]
        assert arn.endswith(f":assumed-role/{role}/{twin.instances[caller]['InstanceId']}")
        info = json.loads(get(twin, caller, "/latest/meta-data/iam/info")[1])
        assert info["InstanceProfileArn"].endswith(f"instance-profile/{role[:-5]}-profile")
    # Asked again, the same credentials (cached until near expiry, as EC2 rotates them).
    again = json.loads(get(twin, API, "/latest/meta-data/iam/security-credentials/api-role")[1])
    assert again["AccessKeyId"] == issued[API]["AccessKeyId"]
    assert issued[API]["AccessKeyId"] != issued[WORKER]["AccessKeyId"]
    assert get(twin, BASTION, "/latest/meta-data/iam/security-credentials/")[0] == 404


def test_the_lifecycle_state_answers_for_group_members_only(twin: Twin) -> None:
    path = "/latest/meta-data/autoscaling/target-lifecycle-state"
    assert get(twin, WORKER, path) == (200, "InService")
    assert get(twin, API, path)[0] == 404


@pytest.mark.parametrize(("state", "target"), [
    ("Pending", "InService"), ("Pending:Wait", "InService"), ("Pending:Proceed", "InService"),
    ("InService", "InService"), ("Terminating", "Terminated"),
    ("Terminating:Wait", "Terminated"), ("Terminating:Proceed", "Terminated"),
    ("Terminated", "Terminated"), ("Detaching", "Detached"), ("Detached", "Detached"),
    ("EnteringStandby", "Standby"), ("Standby", "Standby"),
    ("Warmed:Terminating:Wait", "Warmed:Terminated"), ("Warmed:Running", "Warmed:Running"),
])
def test_target_lifecycle_states(state: str, target: str) -> None:
    assert imds.target_lifecycle_state(state) == target


def test_user_data_round_trips_byte_for_byte(twin: Twin) -> None:
    status, body, _ = call(twin, API, "GET", "/latest/user-data",
                           {"X-aws-ec2-metadata-token": token(twin, API)})
    assert (status, body) == (200, API_USER_DATA)
    status, body, _ = call(twin, WORKER, "GET", "/2021-03-23/user-data",
                           {"X-aws-ec2-metadata-token": token(twin, WORKER)})
    assert (status, body) == (200, WORKER_USER_DATA)  # the launch template's
    assert get(twin, BASTION, "/latest/user-data")[0] == 404
    assert get(twin, BASTION, "/latest/")[1].split("\n") == ["dynamic", "meta-data"]


def test_the_identity_document_describes_the_instance(twin: Twin) -> None:
    instance = twin.instances[API]
    status, text = get(twin, API, "/latest/dynamic/instance-identity/document")
    assert status == 200
    document = json.loads(text)
    assert document["instanceId"] == instance["InstanceId"]
    assert document["privateIp"] == "10.9.1.10"
    assert document["availabilityZone"] == "us-east-1b"
    assert document["region"] == "us-east-1"
    assert document["imageId"] == instance["ImageId"]
    assert document["instanceType"] == "t3.micro"
    assert document["accountId"].isdigit()
    assert document["architecture"] == "x86_64"
    assert document["version"] == "2017-09-30"
    assert document["pendingTime"].endswith("Z")


def crawl(twin: Twin, caller: str, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """Read a tree as cloud-init 22.4's MetadataMaterializer does (helpers/ec2.py): every listed
    entry is fetched, and one failure fails the whole crawl on EC2."""
    def fetch(path: str) -> str:
        status, body, _ = call(twin, caller, "GET", path, headers)
        assert status == 200, path
        return body.decode()

    tree: dict[str, Any] = {}
    for field in fetch(url).splitlines():
        field = field.strip()
        name = field.rstrip("/")
        if not name or name == "security-credentials":
            continue
        if field.endswith("/"):
            tree[name] = crawl(twin, caller, f"{url.rstrip('/')}/{name}/", headers)
            continue
        resource = name
        ident, sep, key_name = field.partition("=")
        if sep and ident.isdigit():
            resource, name = f"{ident}/openssh-key", key_name
        text = fetch(f"{url.rstrip('/')}/{resource}")
        tree[name] = json.loads(text) if text.strip().startswith("{") else text
    return tree


def crawl_as_cloud_init(twin: Twin, caller: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What cloud-init 22.4's Ec2 datasource asks on EC2: a token, the version probe (newest
    first), user-data, the meta-data tree and the identity document."""
    headers = {"X-aws-ec2-metadata-token": token(twin, caller, 21600)}
    status, _, _ = call(twin, caller, "GET", "/2021-03-23/meta-data/instance-id", headers)
    assert status == 200
    assert call(twin, caller, "GET", "/2021-03-23/user-data", headers)[0] == 200
    return (crawl(twin, caller, "/2021-03-23/meta-data/", headers),
            crawl(twin, caller, "/2021-03-23/dynamic/instance-identity", headers))


def test_cloud_init_reads_the_whole_tree_in_a_few_aws_calls(twin: Twin,
                                                            moto_server: Any) -> None:
    # A server of its own, whose caches are cold: the AWS calls of a whole crawl are counted.
    cold = dataclasses.replace(twin, server=imds.serve("127.0.0.1", 0, **twin.settings))
    try:
        moto_server.start_recording()
        meta, identity = crawl_as_cloud_init(cold, API)
        actions = moto_server.stop_recording()
    finally:
        cold.server.stop()
    instance = twin.instances[API]
    assert meta["instance-id"] == instance["InstanceId"]
    assert meta["local-ipv4"] == "10.9.1.10"
    assert meta["local-hostname"] == meta["hostname"] == "ip-10-9-1-10.ec2.internal"
    assert meta["placement"] == {"availability-zone": "us-east-1b", "region": "us-east-1"}
    assert meta["public-keys"] == {"dev": f"{twin.key} dev"}
    assert meta["services"]["domain"] == "amazonaws.com"
    assert meta["tags"]["instance"] == {"Name": "api-1", "Role": "api"}
    assert set(meta["iam"]) == {"info"}
    nic = meta["network"]["interfaces"]["macs"][meta["mac"]]
    assert nic["vpc-id"] == twin.vpc
    assert nic["local-ipv4s"] == "10.9.1.10"
    assert nic["device-number"] == "0"
    assert nic["subnet-ipv4-cidr-block"] == "10.9.1.0/24"
    assert nic["vpc-ipv4-cidr-block"] == "10.9.0.0/16"
    assert list(identity) == ["document"]
    assert identity["document"]["instanceId"] == instance["InstanceId"]
    # About fifty requests; without the caches each would cost at least one AWS call.
    assert len(actions) <= 12, actions


def test_versions_and_unknown_paths(twin: Twin) -> None:
    status, text = get(twin, API, "/")
    assert status == 200
    assert {"2009-04-04", "2021-03-23", "latest"} <= set(text.split("\n"))
    assert get(twin, API, "/2099-01-01/meta-data/instance-id")[0] == 404
    assert get(twin, API, "/latest/meta-data/no-such-thing")[0] == 404
    listing = get(twin, API, "/latest/meta-data/")[1].split("\n")
    assert {"instance-id", "placement/", "public-keys/", "iam/", "tags/"} <= set(listing)
    assert "autoscaling/" not in listing


def test_debian_cloud_init_reads_the_stand_in_as_on_ec2(twin: Twin) -> None:
    """cloud-init 22.4 from the twin's base image, its Ec2 datasource knowing the machine for
    EC2 (images/cloud/Dockerfile): token, version probe, crawl, user data and identity
    document, as it does them on EC2."""
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "image", "inspect", CLOUD_IMAGE], capture_output=True,
            check=False).returncode != 0:
        pytest.skip(f"needs Docker and {CLOUD_IMAGE} (scripts/build-images)")
    # The container shares the host's network: it calls from 127.0.0.1, taken for the API host.
    settings = {**twin.settings, "address_map": {"127.0.0.1": "10.9.1.10"}}
    server = imds.serve("127.0.0.1", 0, **settings)
    try:
        result = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", "--entrypoint", "python3",
             CLOUD_IMAGE, "-c", CLOUD_INIT, server.url],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["found"], result.stdout[-3000:]
    assert (read["version"], read["cloud_name"]) == ("2021-03-23", "aws")
    assert read["instance_id"] == twin.instances[API]["InstanceId"]
    assert (read["zone"], read["region"]) == ("us-east-1b", "us-east-1")
    assert read["keys"] == [f"{twin.key} dev"]
    assert read["user_data"] == API_USER_DATA.decode()
    assert read["tags"] == {"instance": {"Name": "api-1", "Role": "api"}}


def test_the_command_serves_and_logs_without_secrets(twin: Twin, moto_server: Any,
                                                     tmp_path: Path) -> None:
    """`python -m twin.imds`, as the twin runs it: one log line per request, no token in it."""
    with socket.socket() as probe:  # a free port (conftest's helper is not importable by name
        probe.bind(("127.0.0.1", 0))  # here: pytest-xdist may have another conftest as conftest)
        port = probe.getsockname()[1]
    log = tmp_path / "imds.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "twin.imds", "--host", "127.0.0.1", "--port", str(port),
             "--endpoint-url", moto_server.url, "--vpc-id", twin.vpc,
             "--map", "127.0.0.7=10.9.1.10"],
            cwd=REPO / "scripts", env=moto_server.env(), stderr=stderr)
    try:
        server = Endpoint(("127.0.0.1", port))
        deadline = time.monotonic() + 30
        while True:
            try:
                secret = token(server, "127.0.0.7")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        status, body, _ = call(server, "127.0.0.7", "GET", "/latest/meta-data/iam/security-"
                               "credentials/api-role", {"X-aws-ec2-metadata-token": secret})
        assert status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    lines = [line for line in log.read_text().splitlines() if line.startswith("imds 127.0.0.7")]
    assert len(lines) == 2, log.read_text()
    assert '"PUT /latest/api/token HTTP/1.1" 200' in lines[0]
    assert "security-credentials/api-role" in lines[1]
    assert secret not in log.read_text()
    assert json.loads(body)["SecretAccessKey"] not in log.read_text()
