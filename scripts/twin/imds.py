"""IMDSv2 stand-in for the dev twin: each machine asks 169.254.169.254 and gets, read from moto,
what EC2's instance metadata service answers that instance.

    cd scripts && python -m twin.imds --host 10.2.0.1 --port 8169 --endpoint-url http://10.2.0.1:5000

What it serves and what not: docs/dev-environment.md, "Instance metadata".
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import http.server
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

TOKEN_PATH = "/latest/api/token"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
MAX_TTL = 21600  # six hours, AWS's maximum session length
# What EC2 lists at / (AWS EC2 user guide, "Get the available versions of the instance metadata").
VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
    "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25",
    "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28",
    "2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23", "latest",
)
# What moto reports for MetadataOptions nobody set: such a value gives way to the launch template's.
MOTO_OPTION_DEFAULTS: dict[str, Any] = {
    "State": "applied", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1,
    "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled",
}
CREDENTIAL_SECONDS = 3600
CREDENTIAL_REFRESH = 300  # EC2 has new role credentials ready at least five minutes before expiry
STATIC_SECONDS = 60.0  # launch template versions, subnets and VPCs hardly change
LISTING = "\0listing"  # a directory's listing when it differs from its children (public-keys)
IMDS_TIME = "%Y-%m-%dT%H:%M:%SZ"

Node = Any  # str | dict[str, Node] | Callable[[], Node | None]


@dataclass
class Response:
    """One answer: status, body and extra headers (Content-Type is always text/plain)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int) -> Response:
    reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("",))[0]
    return Response(status, f"{status} - {reason}\n".encode())


def target_lifecycle_state(state: str) -> str:
    """The steady state an Auto Scaling instance in `state` is heading for, as EC2 Auto Scaling
    puts it in autoscaling/target-lifecycle-state (InService, Terminated, Detached, Standby or a
    Warmed:* state)."""
    if state.startswith("Warmed:"):
        if state.startswith("Warmed:Terminat"):
            return "Warmed:Terminated"
        if state.startswith("Warmed:Pending"):
            return "Warmed:Stopped"  # the pool's usual state; moto keeps no per-pool target
        return state
    if state.startswith("Pending") or state == "InService":
        return "InService"
    if state.startswith("Terminat"):
        return "Terminated"
    if state.startswith("Detach"):
        return "Detached"
    if state in ("EnteringStandby", "Standby"):
        return "Standby"
    return state


def hostname_for(ip: str, region: str) -> str:
    """EC2's private DNS name for an address (ip-10-2-1-4.ec2.internal in us-east-1)."""
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{domain}"


def imds_json(document: Mapping[str, Any]) -> str:
    """JSON as IMDS prints it: two-space indent, ' : ' between key and value."""
    return json.dumps(document, indent=2, separators=(",", " : "))


def _imds_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(IMDS_TIME)


class Tokens:
    """IMDSv2 session tokens, each bound to the address that asked for it and expiring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, address: str, ttl: int) -> str:
        token = secrets.token_urlsafe(40)
        now = self._clock()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (address, now + ttl)
        return token

    def valid(self, token: str, address: str) -> bool:
        with self._lock:
            entry = self._tokens.get(token)
        return entry is not None and entry[0] == address and entry[1] > self._clock()


class _Cache:
    """Answers kept for a few seconds, so that a crawl of the tree costs a handful of calls."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._clock = clock
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any], seconds: float | None = None) -> Any:
        now = self._clock()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = compute()
        with self._lock:
            self._data[key] = (now + (self._seconds if seconds is None else seconds), value)
        return value


class Moto:
    """What the stand-in reads from AWS (moto in the twin), through boto3."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None, region: str,
                 vpc_id: str | None = None, cache_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        def client(service: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=endpoint_url)

        self.region = region
        self.vpc_id = vpc_id
        self._ec2 = client("ec2")
        self._autoscaling = client("autoscaling")
        self._iam = client("iam")
        self._sts = client("sts")
        self._clock = clock
        self._cache = _Cache(cache_seconds, clock)
        self._credentials: dict[tuple[str, str], dict[str, Any]] = {}
        self._credentials_lock = threading.Lock()

    def instance(self, private_ip: str) -> dict[str, Any] | None:
        """The pending or running instance with this private address (in the VPC, if given)."""
        def lookup() -> dict[str, Any] | None:
            filters = [{"Name": "private-ip-address", "Values": [private_ip]},
                       {"Name": "instance-state-name", "Values": ["pending", "running"]}]
            if self.vpc_id:
                filters.append({"Name": "vpc-id", "Values": [self.vpc_id]})
            for reservation in self._ec2.describe_instances(Filters=filters)["Reservations"]:
                for instance in reservation["Instances"]:
                    return {**instance, "OwnerId": reservation.get("OwnerId", ""),
                            "ReservationId": reservation.get("ReservationId", "")}
            return None

        return self._cache.get(("instance", private_ip), lookup)

    def user_data(self, instance_id: str) -> bytes | None:
        def lookup() -> bytes | None:
            answer = self._ec2.describe_instance_attribute(InstanceId=instance_id,
                                                           Attribute="userData")
            value = (answer.get("UserData") or {}).get("Value")
            if not value:
                return None
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return value.encode()

        return self._cache.get(("user-data", instance_id), lookup)

    def public_key(self, key_name: str) -> str | None:
        """The key pair's public key in OpenSSH format (moto keeps what ImportKeyPair got)."""
        def lookup() -> str | None:
            try:
                pairs = self._ec2.describe_key_pairs(KeyNames=[key_name],
                                                     IncludePublicKey=True)["KeyPairs"]
            except ClientError:
                return None
            return pairs[0].get("PublicKey") if pairs else None

        return self._cache.get(("key", key_name), lookup)

    def lifecycle_state(self, instance_id: str) -> str | None:
        """The instance's Auto Scaling lifecycle state; None when it is in no group."""
        def lookup() -> str | None:
            found = self._autoscaling.describe_auto_scaling_instances(
                InstanceIds=[instance_id])["AutoScalingInstances"]
            return found[0]["LifecycleState"] if found else None

        return self._cache.get(("lifecycle", instance_id), lookup)

    def template_data(self, instance: Mapping[str, Any]) -> dict[str, Any]:
        """The data of the launch template version the instance was launched from, or {}."""
        tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
        template = tags.get("aws:ec2launchtemplate:id")
        version = tags.get("aws:ec2launchtemplate:version")
        if not template or not version:
            return {}

        def lookup() -> dict[str, Any]:
            try:
                versions = self._ec2.describe_launch_template_versions(
                    LaunchTemplateId=template, Versions=[version])["LaunchTemplateVersions"]
            except ClientError:
                return {}
            return versions[0].get("LaunchTemplateData", {}) if versions else {}

        return self._cache.get(("template", template, version), lookup, STATIC_SECONDS)

    def instance_profile(self, name: str) -> dict[str, Any] | None:
        def lookup() -> dict[str, Any] | None:
            try:
                return self._iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
            except ClientError:
                return None

        return self._cache.get(("profile", name), lookup)

    def cidr(self, kind: str, resource_id: str) -> str | None:
        """The primary IPv4 CIDR of a subnet ("subnet") or VPC ("vpc")."""
        def lookup() -> str | None:
            try:
                if kind == "subnet":
                    found = self._ec2.describe_subnets(SubnetIds=[resource_id])["Subnets"]
                else:
                    found = self._ec2.describe_vpcs(VpcIds=[resource_id])["Vpcs"]
            except ClientError:
                return None
            return found[0].get("CidrBlock") if found else None

        return self._cache.get((kind, resource_id), lookup, STATIC_SECONDS)

    def role_credentials(self, role_arn: str, instance_id: str) -> dict[str, Any]:
        """Credentials of the role for this instance (session name = instance ID, as EC2 does),
        kept until five minutes before they expire."""
        key = (role_arn, instance_id)
        with self._credentials_lock:
            cached = self._credentials.get(key)
            now = dt.datetime.now(dt.UTC)
            if cached is None or cached["Expiration"] - now < dt.timedelta(
                    seconds=CREDENTIAL_REFRESH):
                answer = self._sts.assume_role(RoleArn=role_arn, RoleSessionName=instance_id,
                                               DurationSeconds=CREDENTIAL_SECONDS)
                cached = {**answer["Credentials"], "LastUpdated": now}
                self._credentials[key] = cached
            return cached


class MetadataService:
    """The answers, without HTTP: who asks (by address), with which token, for which path."""

    def __init__(self, moto: Moto, address_map: Mapping[str, str] | None = None,
                 tokens: Tokens | None = None) -> None:
        self.moto = moto
        self.address_map = dict(address_map or {})
        self.tokens = tokens or Tokens()

    def identity(self, client: str) -> str:
        """The instance address a client address stands for (itself unless mapped)."""
        return self.address_map.get(client, client)

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str],
               client: str) -> Response:
        identity = self.identity(client)
        path = urllib.parse.urlsplit(raw_path).path
        if method == "PUT":
            return self._token(path, headers, identity)
        if method not in ("GET", "HEAD"):
            return Response(405, b"405 - Method Not Allowed\n", {"Allow": "GET, HEAD, PUT"})
        instance = self.moto.instance(identity)
        if instance is None:
            return _error(404)
        options = self.options(instance)
        if options.get("HttpEndpoint") == "disabled":
            return _error(403)
        token = headers.get(TOKEN_HEADER)
        if token is not None:
            if not self.tokens.valid(token, identity):
                return _error(401)
        elif options.get("HttpTokens", "required") != "optional":
            return _error(401)
        return self._get(path, instance, options)

    def _token(self, path: str, headers: Mapping[str, str], identity: str) -> Response:
        if path.rstrip("/") != TOKEN_PATH or headers.get("X-Forwarded-For") is not None:
            return _error(403)
        raw = (headers.get(TTL_HEADER) or "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TTL:
            return _error(400)
        instance = self.moto.instance(identity)
        if instance is not None and self.options(instance).get("HttpEndpoint") == "disabled":
            return _error(403)
        token = self.tokens.issue(identity, int(raw))
        return Response(200, token.encode(), {TTL_HEADER: str(int(raw))})

    def options(self, instance: Mapping[str, Any]) -> dict[str, Any]:
        """The instance's metadata options. moto does not copy a launch template's
        MetadataOptions to the instances launched from it, as EC2 does: where the instance
        shows moto's default, the template's value applies."""
        options = dict(instance.get("MetadataOptions") or {})
        template = self.moto.template_data(instance).get("MetadataOptions") or {}
        for key, value in template.items():
            if options.get(key, MOTO_OPTION_DEFAULTS.get(key)) == MOTO_OPTION_DEFAULTS.get(key):
                options[key] = value
        return options

    def profile(self, instance: Mapping[str, Any]) -> dict[str, Any] | None:
        """The instance's IAM instance profile (the launch template's where moto dropped it)."""
        ref = (instance.get("IamInstanceProfile")
               or self.moto.template_data(instance).get("IamInstanceProfile"))
        if not ref:
            return None
        name = ref.get("Name") or ref.get("Arn", "").rsplit("/", 1)[-1]
        return self.moto.instance_profile(name) if name else None

    def _get(self, path: str, instance: dict[str, Any], options: dict[str, Any]) -> Response:
        parts = [part for part in path.split("/") if part]
        if not parts:
            return _text("\n".join(VERSIONS))
        if parts[0] not in VERSIONS:
            return _error(404)
        top: dict[str, Node] = {
            "dynamic": {"instance-identity": {"document": lambda: self._identity(instance)}},
            "meta-data": lambda: self.meta_data(instance, options),
            "user-data": lambda: self.moto.user_data(instance["InstanceId"]),
        }
        node = _walk(top, parts[1:])
        if node is None:
            return _error(404)
        if isinstance(node, bytes):
            return Response(200, node)
        if isinstance(node, dict):
            names = _listing(node)
            # A version's own listing names its parts without a trailing '/', as EC2's does.
            return _text("\n".join(name.rstrip("/") for name in names) if len(parts) == 1
                         else "\n".join(names))
        return _text(str(node))

    def meta_data(self, instance: dict[str, Any], options: dict[str, Any]) -> dict[str, Node]:
        """The meta-data/ tree of one instance; entries that cost a call are computed when
        asked for."""
        region = self.moto.region
        ip = instance.get("PrivateIpAddress", "")
        hostname = instance.get("PrivateDnsName") or hostname_for(ip, region)
        nics = sorted(instance.get("NetworkInterfaces", []),
                      key=lambda nic: nic.get("Attachment", {}).get("DeviceIndex", 0))
        root = instance.get("RootDeviceName", "/dev/sda1")
        tree: dict[str, Node] = {
            "ami-id": instance.get("ImageId", ""),
            "ami-launch-index": str(instance.get("AmiLaunchIndex", 0)),
            "ami-manifest-path": "(unknown)",
            "autoscaling": lambda: self._autoscaling(instance),
            "block-device-mapping": {"ami": root, "root": root},
            "hostname": hostname,
            "iam": lambda: self._iam(instance),
            "instance-action": "none",
            "instance-id": instance["InstanceId"],
            "instance-life-cycle": "spot" if instance.get("InstanceLifecycle") == "spot"
            else "on-demand",
            "instance-type": instance.get("InstanceType", ""),
            "local-hostname": hostname,
            "local-ipv4": ip,
            "mac": nics[0].get("MacAddress", "") if nics else "",
            "network": {"interfaces": {"macs": {
                nic["MacAddress"]: self._nic(nic, hostname) for nic in nics
                if nic.get("MacAddress")}}},
            "placement": {"availability-zone": instance.get("Placement", {}).get(
                "AvailabilityZone", ""), "region": region},
            "profile": "default-hvm",
            "public-keys": lambda: self._public_keys(instance),
            "reservation-id": instance.get("ReservationId", ""),
            "security-groups": "\n".join(group.get("GroupName", "")
                                         for group in instance.get("SecurityGroups", [])),
            "services": {"domain": "amazonaws.com", "partition": "aws"},
            "tags": lambda: self._tags(instance, options),
        }
        if instance.get("PublicIpAddress"):
            tree["public-ipv4"] = instance["PublicIpAddress"]
            if instance.get("PublicDnsName"):
                tree["public-hostname"] = instance["PublicDnsName"]
        return tree

    def _nic(self, nic: Mapping[str, Any], hostname: str) -> dict[str, Node]:
        groups = nic.get("Groups", [])
        subnet, vpc = nic.get("SubnetId", ""), nic.get("VpcId", "")
        return {
            "device-number": str(nic.get("Attachment", {}).get("DeviceIndex", 0)),
            "interface-id": nic.get("NetworkInterfaceId", ""),
            "local-hostname": nic.get("PrivateDnsName") or hostname,
            "local-ipv4s": "\n".join(address["PrivateIpAddress"]
                                     for address in nic.get("PrivateIpAddresses", [])),
            "mac": nic.get("MacAddress", ""),
            "owner-id": nic.get("OwnerId", ""),
            "security-group-ids": "\n".join(group["GroupId"] for group in groups),
            "security-groups": "\n".join(group["GroupName"] for group in groups),
            "subnet-id": subnet,
            "subnet-ipv4-cidr-block": lambda: self.moto.cidr("subnet", subnet),
            "vpc-id": vpc,
            "vpc-ipv4-cidr-block": lambda: self.moto.cidr("vpc", vpc),
            "vpc-ipv4-cidr-blocks": lambda: self.moto.cidr("vpc", vpc),
        }

    def _autoscaling(self, instance: Mapping[str, Any]) -> dict[str, Node] | None:
        state = self.moto.lifecycle_state(instance["InstanceId"])
        if state is None:
            return None
        return {"target-lifecycle-state": target_lifecycle_state(state)}

    def _public_keys(self, instance: Mapping[str, Any]) -> dict[str, Node] | None:
        name = instance.get("KeyName")
        key = self.moto.public_key(name) if name else None
        if not key:
            return None
        # As EC2 shows it: the key's type and body, then the key pair's name.
        openssh = " ".join([*key.split()[:2], name])
        return {"0": {"openssh-key": openssh}, LISTING: [f"0={name}"]}

    def _tags(self, instance: Mapping[str, Any], options: Mapping[str, Any]) -> Node:
        if options.get("InstanceMetadataTags") != "enabled":
            return None
        # EC2 refuses metadata tags while a key has '/' or a space; such keys are left out here.
        return {"instance": {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])
                             if "/" not in tag["Key"] and " " not in tag["Key"]
                             and tag["Key"] not in (".", "..", "_index")}}

    def _iam(self, instance: Mapping[str, Any]) -> dict[str, Node] | None:
        profile = self.profile(instance)
        if not profile or not profile.get("Roles"):
            return None
        role = profile["Roles"][0]
        info = {"Code": "Success", "LastUpdated": _imds_time(dt.datetime.now(dt.UTC)),
                "InstanceProfileArn": profile["Arn"],
                "InstanceProfileId": profile["InstanceProfileId"]}
        return {"info": imds_json(info), "security-credentials": {
            role["RoleName"]: lambda: self._credentials(role["Arn"], instance["InstanceId"])}}

    def _credentials(self, role_arn: str, instance_id: str) -> str:
        creds = self.moto.role_credentials(role_arn, instance_id)
        return imds_json({
            "Code": "Success", "LastUpdated": _imds_time(creds["LastUpdated"]),
            "Type": "AWS-HMAC", "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"], "Token": creds["SessionToken"],
            "Expiration": _imds_time(creds["Expiration"])})

    def _identity(self, instance: Mapping[str, Any]) -> str:
        launched = instance.get("LaunchTime")
        return imds_json({
            "accountId": instance.get("OwnerId", ""),
            "architecture": instance.get("Architecture", "x86_64"),
            "availabilityZone": instance.get("Placement", {}).get("AvailabilityZone", ""),
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": instance.get("ImageId", ""),
            "instanceId": instance["InstanceId"],
            "instanceType": instance.get("InstanceType", ""),
            "kernelId": None,
            "pendingTime": _imds_time(launched) if isinstance(launched, dt.datetime) else "",
            "privateIp": instance.get("PrivateIpAddress", ""),
            "ramdiskId": None,
            "region": self.moto.region,
            "version": "2017-09-30",
        })


def _resolve(node: Node) -> Node:
    while callable(node):
        node = node()
    return node


def _walk(node: Node, parts: list[str]) -> Node:
    node = _resolve(node)
    for part in parts:
        if not isinstance(node, dict) or part == LISTING or part not in node:
            return None
        node = _resolve(node[part])
    return node


def _listing(directory: dict[str, Node]) -> list[str]:
    if LISTING in directory:
        return list(directory[LISTING])
    names = []
    for name, child in directory.items():
        value = _resolve(child)
        if value is not None:
            names.append(f"{name}/" if isinstance(value, dict) else name)
    return names


def _text(value: str) -> Response:
    return Response(200, value.encode())


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ImdsServer

    def version_string(self) -> str:
        return "EC2ws"  # the Server header EC2's metadata service sends

    def _answer(self) -> None:
        try:
            response = self.server.service.handle(self.command, self.path, self.headers,
                                                  self.client_address[0])
        except Exception as error:  # moto down or a surprise: a 500, and serve on
            kind = "AWS call" if isinstance(error, BotoCoreError | ClientError) else "request"
            self.log_message("%s failed: %s", kind, type(error).__name__)
            response = _error(500)
        self.send_response(response.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request; paths carry no secret, and headers are never logged.
        identity = self.server.service.identity(self.client_address[0])
        sys.stderr.write(f"imds {self.client_address[0]} ({identity}) {format % args}\n")


class ImdsServer(http.server.ThreadingHTTPServer):
    """The HTTP server; `serve()` starts one in a thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: MetadataService) -> None:
        self.service = service
        self.thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.thread is not None:
            self.shutdown()
            self.thread.join(timeout=10)
        self.server_close()


def session_for(region: str) -> boto3.Session:
    """A boto3 session from the environment, or with moto's dummy credentials if it has none."""
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name=region)
    return session


def make_server(host: str = "127.0.0.1", port: int = 0, *, endpoint_url: str | None = None,
                region: str = "us-east-1", vpc_id: str | None = None,
                address_map: Mapping[str, str] | None = None,
                session: boto3.Session | None = None, cache_seconds: float = 2.0) -> ImdsServer:
    """A bound, not yet serving stand-in (port 0: any free port; see `url`)."""
    moto = Moto(session or session_for(region), endpoint_url, region, vpc_id, cache_seconds)
    return ImdsServer((host, port), MetadataService(moto, address_map))


def serve(host: str = "127.0.0.1", port: int = 0, *, endpoint_url: str | None = None,
          region: str = "us-east-1", vpc_id: str | None = None,
          address_map: Mapping[str, str] | None = None, session: boto3.Session | None = None,
          cache_seconds: float = 2.0) -> ImdsServer:
    """Start the stand-in in a daemon thread and return its server (`.url`, `.stop()`)."""
    server = make_server(host, port, endpoint_url=endpoint_url, region=region, vpc_id=vpc_id,
                         address_map=address_map, session=session, cache_seconds=cache_seconds)
    server.thread = threading.Thread(target=server.serve_forever, name="imds", daemon=True)
    server.thread.start()
    return server


def _mapping(text: str) -> tuple[str, str]:
    client, sep, instance = text.partition("=")
    if not sep or not client or not instance:
        raise argparse.ArgumentTypeError(f"expected CLIENT=INSTANCE_IP, got {text!r}")
    return client, instance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twin.imds", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8169)
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the AWS API (moto); default $AWS_ENDPOINT_URL")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION")
                        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    parser.add_argument("--vpc-id", help="answer only for instances of this VPC")
    parser.add_argument("--map", type=_mapping, action="append", default=[],
                        metavar="CLIENT=INSTANCE_IP",
                        help="answer CLIENT as the instance with INSTANCE_IP (repeatable)")
    args = parser.parse_args(argv)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never look for credentials in a real IMDS
    server = make_server(args.host, args.port, endpoint_url=args.endpoint_url,
                         region=args.region, vpc_id=args.vpc_id, address_map=dict(args.map))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"imds: serving on {server.url}, AWS at {args.endpoint_url}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
