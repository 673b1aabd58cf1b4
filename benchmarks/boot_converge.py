#!/usr/bin/env python3
"""Time boot converge on real cloud-init machines of the twin; figures only.

    .venv/bin/python benchmarks/boot_converge.py [--runs 1]

Each run is the boot-converge tests of tests/integration/test_twin_ec2.py (their own moto,
network and EC2 stand-in; root and Docker, as scripts/dev-up needs): release.yml building and
activating a release of dev; a bastion scaled out from nothing until InService, split into the
instance's own phases (release fetched and installed; converge and gate) and the rest (launch,
cloud-init's packages); the same bastion scaled in until its watcher completed the terminating
hook; and an instance with no release abandoning itself with its log. Nothing is asserted
here; the machine's other load shows in every figure.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = {
    "release.yml (build, upload, activate)": r"release\.yml: ([\d.]+) s",
    "scale-out to InService": r"scale-out to InService \(launch, converge, gate\): ([\d.]+) s",
    "  of which release fetched and installed": r"boot: seconds: release and install ([\d.]+)",
    "  of which converge and gate": r"converge and gate ([\d.]+)",
    "scale-in to terminated (watcher)": r"scale-in to terminated \(watcher, [^)]*\): ([\d.]+) s",
    "launch to ABANDON with its log": r"launch to ABANDON with its log: ([\d.]+) s",
}


def run_once() -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_twin_ec2.py",
            "-k",
            "bastion_configures or abandons",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    figures = {}
    for name, pattern in FIGURES.items():
        found = re.search(pattern, output)
        if found:
            figures[name] = float(found.group(1))
    if len(figures) < len(FIGURES):
        sys.stderr.write(output[-4000:])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = [run_once() for _ in range(args.runs)]
    print(f"{'figure':<44} {'median s':>9}  runs")
    for name in FIGURES:
        values = [r[name] for r in runs if name in r]
        median = f"{statistics.median(values):9.1f}" if values else f"{'-':>9}"
        print(f"{name:<44} {median}  {', '.join(f'{v:.1f}' for v in values)}")
    out = [r["scale-out to InService"] for r in runs if "scale-out to InService" in r]
    converge = [
        r["  of which converge and gate"] for r in runs if "  of which converge and gate" in r
    ]
    if out and converge:
        ratio = statistics.median(converge) / statistics.median(out)
        print(f"converge and gate / scale-out: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
