#!/usr/bin/env python3
"""Time the twin's EC2 stand-in (scripts/twin) on a running dev twin; figures only.

    sudo .venv/bin/python benchmarks/twin_ec2.py [--group api] [--runs 3]

Each run, on the converged twin (scripts/dev-up):
1. scale-out: the group's desired capacity + 1 in moto (its maximum raised if needed); seconds
   until the new instance's machine runs, and until its cloud-init has finished (twin.json
   lists it booted);
2. replacement: `docker kill` of that machine; seconds until the group's replacement instance
   has a running machine and a finished first boot (the stand-in reports the dead machine as
   unhealthy, moto's fidelity layer replaces the instance);
3. the replacement is terminated with the desired capacity decremented, and the group's sizes
   are put back, so the twin is left as it was (the original instances are never touched).
Nothing is asserted; the machine's other load shows in every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
TWIN = ROOT / ".dev" / "twin.json"


def machines() -> dict[str, dict[str, Any]]:
    return {m["instance_id"]: m for m in json.loads(TWIN.read_text())["machines"]}


def running(name: str) -> bool:
    result = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() == "true"


def until(check: Callable[[], Any], timeout: float = 600) -> tuple[float, Any]:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        value = check()
        if value:
            return time.perf_counter() - start, value
        time.sleep(0.25)
    raise SystemExit(f"gave up after {timeout:.0f} s")


def new_instance(autoscaling: Any, group: str, known: set[str]) -> str | None:
    answer = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    found = {i["InstanceId"] for i in answer["AutoScalingGroups"][0]["Instances"]
             if i["LifecycleState"] in ("Pending", "Pending:Wait", "InService")}
    fresh = sorted(found - known)
    return fresh[0] if fresh else None


def one_run(autoscaling: Any, group: str) -> dict[str, float]:
    before = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    sizes = {"MinSize": before["MinSize"], "MaxSize": before["MaxSize"],
             "DesiredCapacity": before["DesiredCapacity"]}
    known = {i["InstanceId"] for i in before["Instances"]}
    figures: dict[str, float] = {}
    try:
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=group, MaxSize=max(sizes["MaxSize"], sizes["DesiredCapacity"] + 1),
            DesiredCapacity=sizes["DesiredCapacity"] + 1)
        start = time.perf_counter()
        _, instance = until(lambda: new_instance(autoscaling, group, known))
        _, name = until(lambda: machines().get(instance, {}).get("name"))
        until(lambda: running(name))
        figures["scale-out: machine running"] = time.perf_counter() - start
        until(lambda: machines().get(instance, {}).get("booted"))
        figures["scale-out: cloud-init finished"] = time.perf_counter() - start
        subprocess.run(["docker", "kill", name], check=True, capture_output=True)
        start = time.perf_counter()
        _, replacement = until(lambda: new_instance(autoscaling, group, known | {instance}))
        _, name = until(lambda: machines().get(replacement, {}).get("name"))
        until(lambda: running(name))
        figures["kill: replacement running"] = time.perf_counter() - start
        until(lambda: machines().get(replacement, {}).get("booted"))
        figures["kill: replacement booted"] = time.perf_counter() - start
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=replacement, ShouldDecrementDesiredCapacity=True)
        until(lambda: replacement not in machines(), timeout=300)
    finally:
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, **sizes)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="api", help="the role whose group is scaled")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not TWIN.exists():
        raise SystemExit("no running twin: scripts/dev-up first")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    autoscaling = boto3.client("autoscaling", region_name="us-east-1",
                               endpoint_url="http://127.0.0.1:5000")
    group = f"ideation-dev-{args.group}"
    runs = [one_run(autoscaling, group) for _ in range(args.runs)]
    load = os.getloadavg()[0]
    print(f"twin EC2 stand-in, group {group}, {args.runs} runs, load (1 min) {load:.2f}")
    for label in runs[0]:
        values = [run[label] for run in runs]
        print(f"  {label:<32} median {statistics.median(values):6.1f} s   "
              f"runs {', '.join(f'{v:.1f}' for v in values)}")
    first = statistics.median(r["scale-out: cloud-init finished"] for r in runs)
    running_ = statistics.median(r["scale-out: machine running"] for r in runs)
    print(f"  first boot (cloud-init) takes {first - running_:.1f} s of the {first:.1f} s")


if __name__ == "__main__":
    main()
