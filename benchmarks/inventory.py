#!/usr/bin/env python3
"""Time the aws_ec2 inventory for 100 and 1,000 instances, cache cold and warm, against moto.

Starts moto's server on a free port of 127.0.0.1, launches N tagged instances, and times
`ansible-inventory --list` with inventories/prod/aws_ec2.yml (its filter pointed at the
benchmark's instances): cold with --flush-cache, warm from the jsonfile cache. Prints the median
of several runs, and the time of ansible-inventory on an empty inventory (process start-up,
the floor under every figure). Past ~1,000 instances moto's DescribeInstances slows down
superlinearly: that is moto, not the plugin.

    .venv/bin/python benchmarks/inventory.py [--sizes 100 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROLES = ("nginx", "api", "celery", "monitoring", "bastion")
ENVIRONMENT = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    """moto's server, ready to answer."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"moto did not start; see {log}")


def launch(url: str, count: int) -> None:
    """Reset moto and run `count` instances tagged like the platform's."""
    import boto3

    urllib.request.urlopen(
        urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST"), timeout=30
    )
    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's dummy credential
    )
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    per_role = {role: count // len(ROLES) for role in ROLES}
    per_role["api"] += count - sum(per_role.values())
    for role, n in per_role.items():
        while n > 0:
            batch = min(n, 250)
            ec2.run_instances(
                ImageId=image,
                InstanceType="t3.micro",
                MinCount=batch,
                MaxCount=batch,
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [
                            {"Key": "Role", "Value": role},
                            {"Key": "Environment", "Value": ENVIRONMENT},
                        ],
                    }
                ],
            )
            n -= batch


def inventory_file(workdir: Path) -> Path:
    """inventories/prod/aws_ec2.yml, filtering on the benchmark's Environment tag."""
    config = yaml.safe_load((REPO / "inventories/prod/aws_ec2.yml").read_text())
    config["filters"]["tag:Environment"] = ENVIRONMENT
    path = workdir / "aws_ec2.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        moto = start_moto(port, workdir / "moto.log")
        env = dict(os.environ)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_URL"):
            env.pop(name, None)
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",  # moto's dummy credential
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=url,
            ANSIBLE_INVENTORY_CACHE_CONNECTION=str(workdir / "cache"),
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        )
        tool = str(BIN / "ansible-inventory")
        source = str(inventory_file(workdir))
        empty = workdir / "empty.yml"
        empty.write_text("all: {}\n")
        try:
            floor = statistics.median(
                timed([tool, "-i", str(empty), "--list"], env)[0] for _ in range(args.runs)
            )
            print(f"aws_ec2 inventory (prod's aws_ec2.yml) against moto, median of {args.runs}")
            print(f"ansible-inventory start-up, empty inventory: {floor:6.2f} s")
            print(f"{'instances':>9}  {'cold (s)':>9}  {'warm (s)':>9}  {'hosts':>6}")
            for size in args.sizes:
                launch(url, size)
                cold, warm = [], []
                hosts = 0
                for _ in range(args.runs):
                    seconds, out = timed([tool, "-i", source, "--list", "--flush-cache"], env)
                    cold.append(seconds)
                    hosts = len(json.loads(out)["_meta"]["hostvars"])
                    seconds, out = timed([tool, "-i", source, "--list"], env)
                    warm.append(seconds)
                    if len(json.loads(out)["_meta"]["hostvars"]) != hosts:
                        raise SystemExit("the cached inventory differs from the fresh one")
                if hosts != size:
                    raise SystemExit(f"expected {size} hosts, the inventory has {hosts}")
                print(
                    f"{size:>9}  {statistics.median(cold):>9.2f}  {statistics.median(warm):>9.2f}"
                    f"  {hosts:>6}"
                )
        finally:
            moto.terminate()
            moto.wait(timeout=10)


if __name__ == "__main__":
    main()
