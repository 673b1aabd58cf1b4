"""The dev twin's EC2 stand-in: reconciler, IMDSv2 and moto on the twin's network.

    python -m twin run  --config .dev/ec2.json     (scripts/dev-up starts it; PYTHONPATH=scripts)
    python -m twin wait --config .dev/ec2.json [--timeout 600]
    python -m twin cleanup --config .dev/ec2.json  (removes the metadata address's NAT rule)

`run` serves until SIGTERM: the instance metadata service on the network's gateway (each
machine's 169.254.169.254:80 is NAT-ed to it, so it sees the machine's own address), moto
forwarded to the gateway (the machines' AWS endpoint; nothing listens on the host's other
interfaces), and a reconciler pass every two seconds. docs/dev-environment.md says more.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import FrameType

from twin.reconciler import LIVE_STATES, Reconciler, TwinConfig, moto_answers

LOG = logging.getLogger("twin.ec2")
METADATA_ADDRESS = "169.254.169.254"
PASS_SECONDS = 2.0


def nat_rule(config: TwinConfig) -> list[str]:
    return ["PREROUTING", "-i", config.bridge, "-d", f"{METADATA_ADDRESS}/32", "-p", "tcp",
            "--dport", "80", "-j", "DNAT", "--to-destination",
            f"{config.gateway}:{config.imds_port}"]


def iptables(action: str, rule: list[str]) -> bool:
    return subprocess.run(["iptables", "-w", "-t", "nat", action, *rule], check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def add_metadata_route(config: TwinConfig) -> None:
    """169.254.169.254:80 of every machine on the twin's bridge -> the IMDS stand-in."""
    rule = nat_rule(config)
    if not iptables("-C", rule) and not iptables("-I", rule):
        raise SystemExit(f"could not add the NAT rule for {METADATA_ADDRESS} on {config.bridge}")


def remove_metadata_route(config: TwinConfig) -> None:
    """Every NAT rule of this twin's metadata port (also those a killed stand-in left)."""
    listed = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "PREROUTING"], check=False,
                            capture_output=True, text=True).stdout.splitlines()
    for line in listed:
        words = line.split()
        if (f"{METADATA_ADDRESS}/32" in words and words[-1].endswith(f":{config.imds_port}")
                and words[:1] == ["-A"]):
            iptables("-D", words[1:])


def resolve_network(config: TwinConfig) -> None:
    """The bridge and gateway of the twin's Docker network (Docker's defaults unless set)."""
    import ipaddress

    import docker

    network = docker.from_env().networks.get(config.network)
    options = network.attrs.get("Options") or {}
    config.bridge = config.bridge or options.get("com.docker.network.bridge.name",
                                                 f"br-{network.id[:12]}")
    ipam = network.attrs["IPAM"]["Config"][0]
    subnet = ipaddress.ip_network(ipam["Subnet"])
    config.gateway = config.gateway or ipam.get("Gateway") or str(next(subnet.hosts()))


class Forwarder(threading.Thread):
    """A TCP forwarder from the gateway to moto on loopback: the machines' AWS endpoint."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        super().__init__(daemon=True, name="moto-forwarder")
        self.target = target
        self.server = socket.create_server(listen, reuse_port=False)

    def run(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.connect, args=(client,), daemon=True).start()

    def connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.server.close()


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def run(config: TwinConfig) -> int:
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    resolve_network(config)
    services = []
    if config.gateway and config.imds_port:
        from twin import imds

        services.append(imds.serve(config.gateway, config.imds_port,
                                   endpoint_url=config.endpoint_url, region=config.region,
                                   vpc_id=config.vpc_id))
        add_metadata_route(config)
    forwarder = None
    if config.gateway and config.moto_port:
        endpoint = urllib.parse.urlsplit(config.endpoint_url)
        forwarder = Forwarder((config.gateway, config.moto_port),
                              (endpoint.hostname or "127.0.0.1", endpoint.port or 80))
        forwarder.start()
    LOG.info("serving: IMDS on %s:%s, moto on %s:%s; following VPC %s", config.gateway,
             config.imds_port, config.gateway, config.moto_port, config.vpc_id)
    reconciler = Reconciler(config)
    try:
        while not stopping.is_set():
            try:
                done = reconciler.reconcile()
                if any(done.values()):
                    LOG.info("pass: %s", json.dumps(done))
            except Exception as error:  # one failed pass must not end the twin's EC2
                if moto_answers(error):
                    LOG.exception("reconciler pass failed")
                else:
                    LOG.warning("moto does not answer (%s); waiting", error)
            stopping.wait(PASS_SECONDS)
    finally:
        remove_metadata_route(config)
        for service in services:
            service.stop()
        if forwarder:
            forwarder.close()
        LOG.info("stopped")
    return 0


def wait(config: TwinConfig, timeout: float) -> int:
    """Until every live instance of the twin's roles has a machine that finished its first
    boot (twin.json), or the timeout: 0, or 1 with what is missing."""
    import boto3

    ec2 = boto3.client("ec2", region_name=config.region, endpoint_url=config.endpoint_url)
    deadline = time.monotonic() + timeout
    missing: list[str] = []
    while time.monotonic() < deadline:
        answer = ec2.describe_instances(Filters=[
            {"Name": "vpc-id", "Values": [config.vpc_id]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
            {"Name": "tag:Role", "Values": config.roles}])
        wanted = {i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"]}
        try:
            twin = json.loads((Path(config.state_dir) / "twin.json").read_text())
        except (OSError, ValueError):
            twin = {"machines": []}
        booted = {m["instance_id"] for m in twin["machines"] if m.get("booted")}
        missing = sorted(wanted - booted)
        if wanted and not missing:
            failed = [f"{m['name']}: {'; '.join(m['cloud_init_errors'])}"
                      for m in twin["machines"] if m.get("cloud_init_errors")]
            for line in failed:
                print(f"    cloud-init reported errors on {line}", file=sys.stderr)
            return 0
        time.sleep(1)
    print(f"no booted machine after {timeout:.0f} s for: {', '.join(missing) or 'no instance'}"
          " (.dev/logs/ec2.log; cloud-init's log in each machine)", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twin", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "wait", "cleanup"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    config = TwinConfig.load(args.config)
    if args.command == "run":
        return run(config)
    if args.command == "wait":
        return wait(config, args.timeout)
    remove_metadata_route(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
