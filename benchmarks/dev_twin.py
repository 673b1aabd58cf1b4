#!/usr/bin/env python3
"""Time the dev twin; print figures only (nothing is asserted).

    sudo .venv/bin/python benchmarks/dev_twin.py [--reruns N] [--keep]

1. From nothing to a converged twin: scripts/dev-down, then scripts/dev-up, timed as a whole and
   per step (set-up, moto, key pair, provision, machines, inventory, site.yml, as dev-up reports
   them).
   Set-up is near zero on a machine that already has the venv, Docker and the base images.
2. A no-op re-run: `ansible-playbook site.yml -i inventories/dev` on the converged twin (median
   of N runs), and scripts/dev-up again on the running twin (provisioning skipped, machines and
   site.yml converged with no change).
3. Host-tasks per second: the recap's ok + changed + failed + skipped counts summed over the
   hosts, divided by the run's wall time (profile_tasks' total), for the first converge and for
   a no-op re-run.

The twin is removed at the end (scripts/dev-down) unless --keep. The machine's other load shows
in every figure: compare runs made on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOTO_URL = "http://127.0.0.1:5000"
STEP = re.compile(r"==> (?P<label>[\w. -]+): (?P<seconds>\d+) s")
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+"
    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.MULTILINE,
)
# profile_tasks: "... (0:00:00.713)       0:07:20.482 *****" - the last one is the run's total.
ELAPSED = re.compile(r"\)\s+(\d+):(\d\d):(\d\d\.\d+) \*+\s*$", re.MULTILINE)
DEV_UP_STEPS = ("set-up", "moto", "key pair", "provision", "machines", "inventory", "site.yml")


def env() -> dict[str, str]:
    """dev-up's environment for Ansible: moto on loopback and dummy credentials."""
    values = dict(os.environ, ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PYTHONUNBUFFERED="1")
    # As scripts/dev-up exports it: nothing that could point boto3 anywhere but moto.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_URL", "EC2_URL", "S3_URL"):
        values.pop(name, None)
    values.update(AWS_ENDPOINT_URL=MOTO_URL, AWS_ACCESS_KEY_ID="testing",
                  AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                  AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    values["PATH"] = f"{ROOT / '.venv' / 'bin'}:{values.get('PATH', '')}"
    return values


def run(args: list[str]) -> tuple[float, str]:
    """Run a command from the repository root; its wall time and output. Exits on failure."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, env=env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        last = "\n".join(output.splitlines()[-40:])
        sys.exit(f"{' '.join(args)} failed ({result.returncode}):\n{last}")
    return seconds, output


def dev_up_steps(output: str) -> dict[str, int]:
    """The step timings dev-up prints (its own steps only, not set-up's sub-steps)."""
    return {m["label"]: int(m["seconds"]) for m in STEP.finditer(output)
            if m["label"] in DEV_UP_STEPS}


def host_tasks(output: str) -> tuple[int, int, int]:
    """Host-tasks (ok + changed + failed + skipped over every host), changes, and host count."""
    section = output.split("PLAY RECAP")[-1]
    rows = list(RECAP.finditer(section))
    total = sum(int(r[k]) for r in rows for k in ("ok", "changed", "failed", "skipped"))
    return total, sum(int(r["changed"]) for r in rows), len(rows)


def elapsed(output: str, fallback: float) -> float:
    """profile_tasks' total for the run, or the measured wall time when it printed none."""
    found = ELAPSED.findall(output)
    if not found:
        return fallback
    hours, minutes, seconds = found[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def rate_line(label: str, output: str, wall: float) -> str:
    tasks, changed, hosts = host_tasks(output)
    seconds = elapsed(output, wall)
    return (f"{label:<34} {tasks:5d} host-tasks on {hosts} hosts in {seconds:7.1f} s: "
            f"{tasks / seconds:6.2f} host-tasks/s ({changed} changed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reruns", type=int, default=3,
                        help="no-op site.yml runs to take the median of")
    parser.add_argument("--keep", action="store_true", help="leave the twin running at the end")
    options = parser.parse_args()

    print("dev twin benchmark (figures only; the machine's other load shows in each)")
    run([str(ROOT / "scripts" / "dev-down")])
    up_seconds, up_output = run([str(ROOT / "scripts" / "dev-up")])
    steps = dev_up_steps(up_output)
    print(f"{'nothing -> converged twin':<34} {up_seconds:7.1f} s  "
          + ", ".join(f"{k} {v} s" for k, v in steps.items()))
    site_log = (ROOT / ".dev" / "logs" / "site.log").read_text()
    print(rate_line("site.yml, first converge", site_log, steps.get("site.yml", up_seconds)))

    reruns = []
    last_output = ""
    for _ in range(options.reruns):
        seconds, last_output = run(["ansible-playbook", "site.yml", "-i", "inventories/dev"])
        reruns.append(seconds)
    print(f"{'site.yml no-op re-run (median)':<34} {statistics.median(reruns):7.1f} s  "
          f"(runs: {', '.join(f'{s:.1f}' for s in reruns)})")
    print(rate_line("site.yml, no-op re-run", last_output, reruns[-1]))

    again_seconds, again_output = run([str(ROOT / "scripts" / "dev-up")])
    print(f"{'dev-up on the running twin':<34} {again_seconds:7.1f} s  "
          + ", ".join(f"{k} {v} s" for k, v in dev_up_steps(again_output).items()))

    if not options.keep:
        down_seconds, _ = run([str(ROOT / "scripts" / "dev-down")])
        print(f"{'dev-down':<34} {down_seconds:7.1f} s")


if __name__ == "__main__":
    main()
