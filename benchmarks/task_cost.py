#!/usr/bin/env python3
"""Where one task's time goes, on one host of the converged dev twin. Prints figures only.

    .venv/bin/python benchmarks/task_cost.py [--group api] [--tasks 20] [--runs 10]

A no-op site.yml run is some 450 host-tasks, most of them a module run on a host; this takes one
such run apart:

1. SSH through a kept master connection (what ControlPersist gives every task): `true`,
   `sudo -n true` and `sudo -n python3 -c pass` on the host, median of --runs.
2. Ansible, one host: a play of --tasks `stat` tasks (a module run on the host) and as many
   `debug` tasks (the controller alone), with the shipped ansible.cfg and with stock settings
   (as benchmarks/site_noop.py defines them: no pipelining). Seconds per task: the median of
   profile_tasks' figures. A no-op `template` or `copy` task is two such module runs (`stat`,
   then `file` for the attributes).
3. On the host, the `stat` module as Ansible sends it (the AnsiballZ file, kept with
   ANSIBLE_KEEP_REMOTE_FILES): seconds per run, and how much of that is Python importing
   ansible's module_utils from the payload's zip (`python3 -X importtime`). They are
   compiled afresh on every run: the payload holds sources only, and a zip import never
   writes a .pyc.

Needs a converged twin (scripts/dev-up); changes nothing on it but a temporary directory in the
login user's home, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dev_twin import ROOT, env  # the twin's environment, as dev-up exports it
from site_noop import STOCK_CFG

SSH_CONFIG = ROOT / ".dev" / "ssh" / "config"
# profile_tasks' line after each task: "... (0:00:00.254)       0:00:07.822 ****"
STAMP = re.compile(r"\((\d+):(\d\d):(\d\d\.\d+)\)\s+[\d:.]+ \*+\s*$", re.MULTILINE)
TASK = re.compile(r"^TASK \[(?P<name>[^\]]+)\]", re.MULTILINE)
PROBE = """\
- name: One task's cost
  hosts: "{{{{ probe_host }}}}"
  gather_facts: false
  become: true
  tasks:
{stats}
{debugs}
"""


def ansible_env(config: Path) -> dict[str, str]:
    values = {k: v for k, v in env().items() if not k.startswith("ANSIBLE_")}
    values.update(ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1")
    return values


def first_host(group: str) -> tuple[str, str]:
    """The group's first inventory host and its address (the twin's ssh_config knows both)."""
    out = subprocess.run(["ansible-inventory", "-i", "inventories/dev", "--list"], cwd=ROOT,
                         env=ansible_env(ROOT / "ansible.cfg"), capture_output=True, text=True,
                         check=True).stdout
    inventory = json.loads(out)
    hosts = sorted(inventory.get(group, {}).get("hosts", []))
    if not hosts:
        sys.exit(f"no host in group {group}: is the twin up (scripts/dev-up)?")
    address = inventory["_meta"]["hostvars"][hosts[0]]["ansible_host"]
    if isinstance(address, dict):  # --list marks composed values: {"__ansible_unsafe": "..."}
        address = address["__ansible_unsafe"]
    return hosts[0], address


def ssh_timings(address: str, runs: int, control: Path) -> dict[str, float]:
    """Median seconds of a command through one kept master connection."""
    ssh = ["ssh", "-F", str(SSH_CONFIG), "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
           "-o", f"ControlPath={control}", address]
    subprocess.run([*ssh, "true"], check=True)  # the master connection
    script = (
        "import subprocess, statistics, sys, time\n"
        "def median(cmd):\n"
        "    seconds = []\n"
        f"    for _ in range({runs}):\n"
        "        start = time.perf_counter(); subprocess.run(cmd, check=True)\n"
        "        seconds.append(time.perf_counter() - start)\n"
        "    return statistics.median(seconds)\n"
    )
    figures = {}
    for label, command in (("ssh: true", "true"), ("ssh: sudo -n true", "sudo -n true"),
                           ("ssh: sudo -n python3 -c pass", "sudo -n python3 -c pass")):
        # Timed on the controller: each run is a new session on the kept connection.
        timer = script + f"print(median({[*ssh, command]!r}))"
        figures[label] = float(subprocess.run([sys.executable, "-c", timer], check=True,
                                              capture_output=True, text=True).stdout)
    return figures


def task_seconds(config: Path, host: str, tasks: int, workdir: Path) -> dict[str, float]:
    """Median seconds per stat task and per debug task, from profile_tasks."""
    playbook = workdir / "probe.yml"
    stats = "\n".join(f"    - name: stat {i}\n      ansible.builtin.stat: {{path: /etc/hostname}}"
                      for i in range(tasks))
    debugs = "\n".join(f"    - name: debug {i}\n      ansible.builtin.debug: {{msg: {i}}}"
                       for i in range(tasks))
    playbook.write_text(PROBE.format(stats=stats, debugs=debugs))
    result = subprocess.run(["ansible-playbook", "-i", "inventories/dev", str(playbook),
                             "-e", f"probe_host={host}"], cwd=ROOT, env=ansible_env(config),
                            capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"the probe play failed:\n{output[-3000:]}")
    # The figure on the line after a task header is the previous task's duration.
    names = TASK.findall(output)
    stamps = [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in STAMP.findall(output)]
    durations = dict(zip(names, stamps[1:len(names) + 1], strict=False))
    per_kind = {kind: [s for name, s in durations.items() if name.startswith(kind)]
                for kind in ("stat", "debug")}
    # The first stat pays the connection and the payload build: left out of the median.
    return {"stat": statistics.median(per_kind["stat"][1:]),
            "debug": statistics.median(per_kind["debug"])}


def module_on_host(host: str, address: str, runs: int, control: Path) -> dict[str, float]:
    """The stat module's own run on the host, and Python's import of ansible code in it."""
    keep = ansible_env(ROOT / "ansible.cfg")
    keep.update(ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0")
    out = subprocess.run(["ansible", "-i", "inventories/dev", host, "-b", "-m", "stat",
                          "-a", "path=/etc/hostname", "-vvv"], cwd=ROOT, env=keep,
                         capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\S*/\.ansible/tmp/ansible-tmp-[^/\s'\"]+)/AnsiballZ_stat\.py", out)
    if not found:
        sys.exit("could not find the kept AnsiballZ file in ansible's -vvv output")
    tmpdir = found[1]
    payload = f"{tmpdir}/AnsiballZ_stat.py"
    script = f"""
import re, statistics, subprocess, time
seconds = []
for _ in range({runs}):
    start = time.perf_counter()
    subprocess.run(["python3", {payload!r}], check=True, capture_output=True)
    seconds.append(time.perf_counter() - start)
imports = []
for _ in range({runs}):
    err = subprocess.run(["python3", "-X", "importtime", {payload!r}], check=True,
                         capture_output=True, text=True).stderr
    # Top-level imports only (no indentation): their cumulative time includes their children.
    top = re.findall(r"^import time:\\s+\\d+ \\|\\s+(\\d+) \\| ansible\\.", err, re.MULTILINE)
    imports.append(sum(int(us) for us in top) / 1e6)
print(statistics.median(seconds), statistics.median(imports))
"""
    ssh = ["ssh", "-F", str(SSH_CONFIG), "-o", f"ControlPath={control}", address]
    try:
        result = subprocess.run([*ssh, "sudo -n python3 -c " + shlex.quote(script)],
                                check=True, capture_output=True, text=True).stdout.split()
    finally:
        subprocess.run([*ssh, "rm -rf " + shlex.quote(tmpdir)], check=False)
    return {"module run": float(result[0]), "ansible imports": float(result[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", default="api", help="the first host of this group is used")
    parser.add_argument("--tasks", type=int, default=20, help="stat and debug tasks per play")
    parser.add_argument("--runs", type=int, default=10, help="runs per SSH and module figure")
    options = parser.parse_args()
    if not (ROOT / ".dev" / "twin.json").is_file():
        sys.exit("no dev twin here: scripts/dev-up first")

    host, address = first_host(options.group)
    print(f"one task's cost on {host} ({address}); ms, medians")
    with tempfile.TemporaryDirectory(prefix="task-cost-") as tmp:
        workdir = Path(tmp)
        control = workdir / "cm"
        ssh = ssh_timings(address, options.runs, control)
        for label, seconds in ssh.items():
            print(f"  {label:<42} {seconds * 1000:7.1f}")
        stock_cfg = workdir / "stock.cfg"
        stock_cfg.write_text(STOCK_CFG.format(root=ROOT, cache=workdir / "inventory-cache"))
        tasks = {}
        for name, config in (("shipped", ROOT / "ansible.cfg"), ("stock", stock_cfg)):
            tasks[name] = task_seconds(config, host, options.tasks, workdir)
            for kind, seconds in tasks[name].items():
                where = "a module run on the host" if kind == "stat" else "controller only"
                print(f"  {name + ' ansible.cfg: ' + kind + ' task (' + where + ')':<42}"
                      f" {seconds * 1000:7.1f}")
        module = module_on_host(host, address, options.runs, control)
        subprocess.run(["ssh", "-o", f"ControlPath={control}", "-O", "exit", address],
                       capture_output=True, check=False)
    print(f"  {'on the host: the stat module (AnsiballZ)':<42} {module['module run'] * 1000:7.1f}")
    print(f"  {'  of which importing ansible code from zip':<42}"
          f" {module['ansible imports'] * 1000:7.1f}")

    stat = tasks["shipped"]["stat"]
    print(f"\n  shipped stat task {stat * 1000:.0f} ms: module on the host "
          f"{module['module run'] / stat:.0%} "
          f"(of which imports {module['ansible imports'] / stat:.0%}),"
          f" SSH session with sudo {ssh['ssh: sudo -n true'] / stat:.0%}, the rest controller"
          " and payload transfer")
    print(f"  stock stat task / shipped stat task: {tasks['stock']['stat'] / stat:.2f}x"
          f" ({(tasks['stock']['stat'] - stat) * 1000:.0f} ms more per module run without"
          " pipelining)")


if __name__ == "__main__":
    main()
