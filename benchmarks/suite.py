#!/usr/bin/env python3
"""Time the tests: one role's Molecule test, and (only when asked) the whole suite.

    .venv/bin/python benchmarks/suite.py [--role common] [--scenario default] [--runs 1]
                                          [--mitogen [DIR]] [--whole]

1. `molecule test -s SCENARIO` in roles/ROLE (default: roles/common, scenario default): wall
   time of each run, their median, and the time of each Molecule action (create, converge,
   idempotence, verify, ...) of the last run, from when Molecule announces it.
2. --mitogen [DIR]: the same runs again with Mitogen's strategy (ANSIBLE_STRATEGY_PLUGINS from
   DIR, default .cache/mitogen, where `pip install --target .cache/mitogen mitogen` put it;
   ANSIBLE_STRATEGY=mitogen_linear), and the ratio of the two medians.
3. --whole: `scripts/test` (set-up, linters, every unit, integration and Molecule test) timed
   once, and once more with Mitogen's strategy when --mitogen is given (only that one with
   --mitogen-only). It takes about an hour on 2 cores and is not run by default.

Full logs go to build/logs/bench-*.log. The load average before and after each run is printed
beside it: other work on the machine shows in every figure. Nothing is asserted.
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
LOGS = ROOT / "build" / "logs"
DEFAULT_MITOGEN = ROOT / ".cache" / "mitogen"
# Molecule announces each action as "<scenario> ➜ <action>: Executing" (arrow varies by version).
ACTION = re.compile(r"(?P<action>[a-z_]+)\W*:?\s*Executing\b")


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def mitogen_env(directory: Path) -> dict[str, str]:
    """The environment that turns Mitogen's linear strategy on, from a --target install."""
    strategy = directory / "ansible_mitogen" / "plugins" / "strategy"
    if not strategy.is_dir():
        sys.exit(f"no Mitogen at {directory}: pip install --target {directory} mitogen")
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}


def timed(args: list[str], cwd: Path, log: Path, extra: dict[str, str]) -> tuple[float, dict]:
    """Run a command with its output in ``log``; wall time and seconds per Molecule action."""
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", **extra)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    LOGS.mkdir(parents=True, exist_ok=True)
    actions: dict[str, float] = {}
    current, since = "", 0.0
    start = time.perf_counter()
    with log.open("w") as out, subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            found = ACTION.search(line)
            if found:
                now = time.perf_counter()
                if current:
                    actions[current] = actions.get(current, 0.0) + now - since
                current, since = found["action"], now
    seconds = time.perf_counter() - start
    if current:
        actions[current] = actions.get(current, 0.0) + start + seconds - since
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}); log {log}:\n{tail}")
    return seconds, actions


def molecule(role: str, scenario: str, runs: int, label: str, extra: dict[str, str]) -> float:
    """Median wall time of ``runs`` Molecule tests of one role's scenario; prints each run."""
    role_dir = ROOT / "roles" / role
    if not (role_dir / "molecule" / scenario / "molecule.yml").is_file():
        sys.exit(f"no scenario {scenario} in roles/{role}")
    log = LOGS / f"bench-molecule-{role}-{scenario}{'-' + label if label else ''}.log"
    times, actions = [], {}
    for run in range(1, runs + 1):
        before = load()
        seconds, actions = timed(["molecule", "test", "-s", scenario], role_dir, log, extra)
        times.append(seconds)
        print(f"  {label or 'stock strategy':<15} run {run}: {seconds:7.1f} s"
              f"   load before {before}, after {load()}", flush=True)
    median = statistics.median(times)
    print(f"  {label or 'stock strategy':<15} median: {median:7.1f} s; last run by action: "
          + ", ".join(f"{name} {value:.0f} s" for name, value in actions.items()))
    print(f"  log: {log.relative_to(ROOT)}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="common", help="role whose scenario to time")
    parser.add_argument("--scenario", default="default", help="Molecule scenario of that role")
    parser.add_argument("--runs", type=int, default=1, help="runs to take the median of")
    parser.add_argument("--mitogen", nargs="?", const=DEFAULT_MITOGEN, type=Path, default=None,
                        metavar="DIR", help="also time it with Mitogen's strategy from DIR")
    parser.add_argument("--whole", action="store_true",
                        help="also time scripts/test, the whole suite (~1 h on 2 cores)")
    parser.add_argument("--no-molecule", action="store_true",
                        help="skip the role's Molecule test (with --whole)")
    parser.add_argument("--mitogen-only", action="store_true",
                        help="with --mitogen: only the Mitogen runs, no stock ones")
    options = parser.parse_args()

    print(f"test suite benchmark on {os.cpu_count()} cores (figures only; load average "
          "1/5/15 min beside each)")
    if not options.no_molecule:
        print(f"\n1. molecule test: roles/{options.role}, scenario {options.scenario}")
        stock = None
        if not (options.mitogen and options.mitogen_only):
            stock = molecule(options.role, options.scenario, options.runs, "", {})
        if options.mitogen:
            fast = molecule(options.role, options.scenario, options.runs, "mitogen",
                            mitogen_env(options.mitogen.resolve()))
            if stock:
                print(f"  stock / mitogen: {stock / fast:.2f}x")
    if options.whole:
        print("\n2. the whole suite: scripts/test (set-up, lint, pytest -n 2)")
        runs = [] if options.mitogen and options.mitogen_only else [("", {})]
        if options.mitogen:
            runs.append(("mitogen", mitogen_env(options.mitogen.resolve())))
        for label, extra in runs:
            before = load()
            log = LOGS / f"bench-suite{'-' + label if label else ''}.log"
            seconds, _ = timed([str(ROOT / "scripts" / "test")], ROOT, log, extra)
            print(f"  {label or 'stock strategy':<15} scripts/test: {seconds:7.1f} s "
                  f"({seconds / 60:.1f} min)   load before {before}, after {load()}; "
                  f"log: {log.relative_to(ROOT)}")
    else:
        print("\n(the whole suite, scripts/test, takes about an hour on 2 cores: --whole runs it)")


if __name__ == "__main__":
    main()
