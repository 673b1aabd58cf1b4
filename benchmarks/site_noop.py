#!/usr/bin/env python3
"""A no-op site.yml re-run on the converged dev twin: stock Ansible, the shipped ansible.cfg,
site.yml's tier plays side by side, and the shipped ansible.cfg with Mitogen's strategy. Prints
figures only (nothing is asserted).

    .venv/bin/python benchmarks/site_noop.py [--runs 3] [--mitogen [DIR] | --no-mitogen]
                                              [--check] [--profile N]

Needs a converged twin (sudo scripts/dev-up); it changes nothing on it. Each configuration runs
`ansible-playbook site.yml -i inventories/dev` N times (default 3), interleaved (stock, shipped,
mitogen, stock, ...) so that the machine's other load falls on all of them alike; the SSH master
connections of the twin (.dev/cp) are closed before every run, so none inherits another's.

- stock: a throwaway ansible.cfg with only what the project needs to work at all (the
  collection and roles paths, the aws_ec2 inventory plugin enabled, a directory for the
  inventory cache the aws_ec2.yml source asks for) and ansible.posix.profile_tasks (shipped
  too; it shows where the time goes). Everything else is ansible-core's default: forks 5, no
  pipelining, ControlPersist 60 s, implicit gathering of all facts at every play, facts in
  memory only; `--flush-cache` on every run, so the inventory is read from moto each time as
  it would be without a cache. The SSH settings the twin needs (its ssh_config, ProxyJump
  through the bastion) come from the inventory, as they do for every configuration.
- shipped: the repository's ansible.cfg as it is (caches as they are: warm on a re-run).
- tiers: an experiment, the shipped ansible.cfg with site.yml's plays run as separate
  ansible-playbook processes: each play up to the last baseline alone and in order, then the
  four tier plays (monitoring, nginx, api, celery) at once. The bound for a site.yml whose tiers
  converge side by side (one play, or the free strategy), without its costs (skipped tasks,
  run_once, fleet-wide checks over the play's hosts).
- mitogen: the shipped ansible.cfg plus ANSIBLE_STRATEGY_PLUGINS from DIR (default
  .cache/mitogen: `pip install --target .cache/mitogen mitogen`) and
  ANSIBLE_STRATEGY=mitogen_linear. Skipped with --no-mitogen or when DIR has no Mitogen.

Per configuration: median wall time, host-tasks (the recap's ok + changed + skipped + failed,
summed over the hosts) per second of wall time, changed count (0 on a converged twin), and the
ratio to stock; the 1-minute load average before each run; the CPU time the run used, on the
controller (this script's children) and in the twin's instance containers (their cgroups), and
that CPU time over the machine's cores: on the twin every host shares the controller's cores,
so no way of spreading the same work finishes sooner than that floor. --check adds `--check
--diff` to every run. --profile N prints, per configuration, the seconds profile_tasks gave each
role and the N slowest tasks (last run). Logs: build/logs/bench-site-<config>-<run>.log.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dev_twin import RECAP, ROOT, env, host_tasks  # the twin's environment, as dev-up exports it

LOGS = ROOT / "build" / "logs"
DEV = ROOT / ".dev"
DEFAULT_MITOGEN = ROOT / ".cache" / "mitogen"
# profile_tasks' line after each task: "Thursday 26 November 2026  09:49:32 +0000 (0:00:03.010)"
STAMP = re.compile(r"^\w+day \d+ \w+ \d+\s+[\d:]+ [+-]\d{4} \((\d+):(\d\d):(\d\d\.\d+)\)")
TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.*?)\] \*")

STOCK_CFG = """\
# Stock ansible-core settings, plus only what ideation.platform needs to work at all.
[defaults]
collections_path = {root}/.collections:~/.ansible/collections:/usr/share/ansible/collections
roles_path = {root}/roles
# Measurement only (the shipped ansible.cfg has it too): where the time goes.
callbacks_enabled = ansible.posix.profile_tasks

[inventory]
enable_plugins = amazon.aws.aws_ec2, host_list, script, auto, yaml, ini, toml
# inventories/dev/aws_ec2.yml asks for a jsonfile cache, which needs a directory; every stock
# run passes --flush-cache, so it is written but never read.
cache_connection = {cache}
"""


def load() -> float:
    return os.getloadavg()[0]


def twin_cpu_seconds() -> float | None:
    """CPU time used so far by the twin's instance containers (cgroup v1 or v2), or None."""
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", "name=ideation-dev-",
                          "--filter", "label=org.ideation.dev.instance-id"], capture_output=True,
                         text=True, check=False).stdout.split()
    total = 0.0
    for container in ids:
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat")
        if v1.is_file():
            total += int(v1.read_text()) / 1e9
        elif v2.is_file():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            total += int(usage["usage_usec"]) / 1e6
        else:
            return None
    return total if ids else None


def controller_cpu_seconds() -> float:
    """CPU time of this script's finished children: ansible-playbook, its workers, ssh."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def close_connections() -> None:
    """Close the SSH master connections Ansible keeps to the twin (as scripts/dev-up does)."""
    for socket in (DEV / "cp").glob("*"):
        if socket.is_socket():
            subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket}", "twin"],
                           capture_output=True, check=False)


def configurations(workdir: Path, mitogen: Path | None) -> dict[str, tuple[dict, list[str]]]:
    """Each configuration's extra environment and extra ansible-playbook arguments."""
    stock_cfg = workdir / "ansible.cfg"
    stock_cfg.write_text(STOCK_CFG.format(root=ROOT, cache=workdir / "inventory-cache"))
    found = {
        "stock": ({"ANSIBLE_CONFIG": str(stock_cfg)}, ["--flush-cache"]),
        "shipped": ({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, []),
    }
    # An experiment, not a way to run site.yml: the tier plays in four processes at once.
    found["tiers"] = ({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, [])
    if mitogen:
        found["mitogen"] = ({
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_STRATEGY_PLUGINS": str(mitogen / "ansible_mitogen/plugins/strategy"),
            "ANSIBLE_STRATEGY": "mitogen_linear",
        }, [])
    return found


def profile(output: str) -> tuple[collections.Counter, collections.Counter]:
    """Seconds per task and per role, from profile_tasks' line after each task."""
    tasks: collections.Counter = collections.Counter()
    current = None
    for line in output.splitlines():
        task = TASK.match(line)
        if task:
            current = task["name"]
            continue
        stamp = STAMP.match(line)
        if stamp and current:
            hours, minutes, seconds = stamp.groups()
            tasks[current] += int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            current = None
    roles: collections.Counter = collections.Counter()
    for name, seconds in tasks.items():
        roles[name.split(" : ")[0] if " : " in name else name] += seconds
    return tasks, roles


def tier_stages() -> list[list[list[str]]]:
    """site.yml's plays as stages of concurrent ansible-playbook commands: each play up to the
    last baseline (playbooks/common.yml) alone and in order, then every tier play at once."""
    plays = []
    for entry in yaml.safe_load((ROOT / "site.yml").read_text()):
        args = [entry["ansible.builtin.import_playbook"]]
        for name, value in (entry.get("vars") or {}).items():
            args += ["-e", f"{name}={value}"]
        plays.append(args)
    last_baseline = max(i for i, args in enumerate(plays) if args[0] == "playbooks/common.yml")
    return [[args] for args in plays[:last_baseline + 1]] + [plays[last_baseline + 1:]]


def run(name: str, index: int, extra_env: dict, extra_args: list[str],
        check: bool) -> dict | None:
    """One timed site.yml run; its figures. Exits with the log's tail when it fails, except
    with Mitogen, whose failure is printed and ends only its own runs (None)."""
    stages = tier_stages() if name == "tiers" else [[["site.yml"]]]
    extra = [*extra_args, *(["--check", "--diff"] if check else [])]
    values = env()
    for key in [k for k in values if k.startswith("ANSIBLE_")]:
        del values[key]  # the configuration decides, not the caller's environment
    values.update(ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", **extra_env)
    log = LOGS / f"bench-site-{name}-{index}.log"
    close_connections()
    before = load()
    outputs = []
    controller_before, hosts_before = controller_cpu_seconds(), twin_cpu_seconds()
    start = time.perf_counter()
    for stage in stages:
        commands = [["ansible-playbook", "-i", "inventories/dev", *play, *extra] for play in stage]
        procs = [subprocess.Popen(args, cwd=ROOT, env=values, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for args in commands]
        for args, proc in zip(commands, procs, strict=True):
            output = proc.communicate()[0]
            outputs.append(output)
            if proc.returncode != 0:
                for other in procs:  # a tier play that failed ends its stage: no play left over
                    other.kill()
                log.write_text("\n".join(outputs))
                tail = "\n".join(output.splitlines()[-40:])
                message = f"{name}: {' '.join(args)} failed ({proc.returncode}); log {log}:\n{tail}"
                if name != "mitogen":
                    sys.exit(message)
                print(f"  {message}\n  (the Mitogen runs are dropped)", flush=True)
                return None
    seconds = time.perf_counter() - start
    controller_cpu = controller_cpu_seconds() - controller_before
    hosts_after = twin_cpu_seconds()
    hosts_cpu = hosts_after - hosts_before if None not in (hosts_before, hosts_after) else None
    log.write_text("\n".join(outputs))
    figures = [host_tasks(output) for output in outputs]
    count, changed = sum(f[0] for f in figures), sum(f[1] for f in figures)
    hosts = len({m["host"] for output in outputs
                 for m in RECAP.finditer(output.split("PLAY RECAP")[-1])})
    hosts_figure = f"{hosts_cpu:.1f} s" if hosts_cpu is not None else "unknown"
    print(f"  {name:<8} run {index}: {seconds:6.1f} s, {count} host-tasks on {hosts} hosts, "
          f"{changed} changed (load {before:.2f}); CPU: controller {controller_cpu:.1f} s, "
          f"hosts {hosts_figure}", flush=True)
    return {"seconds": seconds, "tasks": count, "changed": changed, "load": before,
            "cpu": controller_cpu + (hosts_cpu or 0.0), "output": "\n".join(outputs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration (median)")
    parser.add_argument("--mitogen", type=Path, default=DEFAULT_MITOGEN, metavar="DIR",
                        help="where `pip install --target` put Mitogen (default .cache/mitogen)")
    parser.add_argument("--no-mitogen", action="store_true", help="skip the Mitogen runs")
    parser.add_argument("--only", nargs="+", choices=("stock", "shipped", "tiers", "mitogen"),
                        help="run only these configurations")
    parser.add_argument("--check", action="store_true", help="runs with --check --diff")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print seconds per role and the N slowest tasks per configuration")
    options = parser.parse_args()
    if not (DEV / "twin.json").is_file():
        sys.exit("no dev twin here: sudo scripts/dev-up first")
    mitogen = None
    if not options.no_mitogen:
        if (options.mitogen / "ansible_mitogen").is_dir():
            mitogen = options.mitogen.resolve()
        else:
            print(f"(no Mitogen in {options.mitogen}: its runs are skipped)")

    LOGS.mkdir(parents=True, exist_ok=True)
    print(f"site.yml no-op re-run on the dev twin{' (--check --diff)' if options.check else ''}"
          f": {options.runs} runs per configuration, interleaved; {os.cpu_count()} cores; "
          "1-min load average before each run")
    with tempfile.TemporaryDirectory(prefix="site-noop-") as tmp:
        configs = configurations(Path(tmp), mitogen)
        if options.only:
            configs = {k: v for k, v in configs.items() if k in options.only}
        results: dict[str, list[dict]] = {name: [] for name in configs}
        for index in range(1, options.runs + 1):
            for name, (extra_env, extra_args) in list(configs.items()):
                figures = run(name, index, extra_env, extra_args, options.check)
                if figures is None:
                    del configs[name], results[name]
                else:
                    results[name].append(figures)

    cores = os.cpu_count() or 1
    print(f"\n  {'config':<8} {'median s':>9} {'host-tasks':>10} {'tasks/s':>8} {'changed':>8}"
          f" {'load':>11} {'vs stock':>9} {'CPU s':>7} {'CPU floor s':>11}")
    baseline = statistics.median(r["seconds"] for r in results["stock"]) \
        if results.get("stock") else None
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        tasks = statistics.median(r["tasks"] for r in runs)
        loads = [r["load"] for r in runs]
        ratio = f"{baseline / seconds:8.2f}x" if baseline else "-"
        cpu = statistics.median(r["cpu"] for r in runs)
        print(f"  {name:<8} {seconds:9.1f} {tasks:10.0f} {tasks / seconds:8.2f} "
              f"{max(r['changed'] for r in runs):8d} {min(loads):5.2f}-{max(loads):<5.2f} "
              f"{ratio:>9} {cpu:7.1f} {cpu / cores:11.1f}")
    if "shipped" in results and baseline:
        shipped = statistics.median(r["seconds"] for r in results["shipped"])
        print(f"  target: shipped at least 3x faster than stock; "
              f"measured {baseline / shipped:.2f}x")
    print(f"  CPU s: the controller's (ansible-playbook, its workers, ssh) and the twin's "
          f"instance containers' CPU time; CPU floor: that over the machine's {cores} cores, the "
          "shortest the run could take here however its work were spread")

    for name, runs in results.items() if options.profile else ():
        tasks, roles = profile(runs[-1]["output"])
        print(f"\n  {name}, last run, seconds per role (profile_tasks): "
              + ", ".join(f"{role.split('.')[-1]} {s:.1f}" for role, s in roles.most_common()))
        for task, seconds in tasks.most_common(options.profile):
            print(f"    {seconds:6.2f} s  {task}")


if __name__ == "__main__":
    main()
