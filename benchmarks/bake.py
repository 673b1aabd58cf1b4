#!/usr/bin/env python3
"""Boot converge of a bastion from the base image and from its bake, on the twin; figures only.

    .venv/bin/python benchmarks/bake.py

Runs the bastion boot-converge test of tests/integration/test_twin_ec2.py twice (its own moto,
network and EC2 stand-in; root and Docker): once as the suite runs it, from the base image, and
once with TWIN_BASTION_FROM_BAKE=1, where the test first bakes the bastion with
playbooks/bake.yml (boot converge's packages included) and launches from the bake. Prints the
bake's time and, for each image, scale-out to InService and the instance's converge and gate.
Nothing is asserted here; the machine's other load shows in every figure (docs/images.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = {
    "bake (bake.yml, boot's packages included)": r"bake of the bastion with boot's packages: "
    r"([\d.]+) s",
    "scale-out to InService": r"scale-out to InService \(launch, converge, gate\): ([\d.]+) s",
    "  of which release fetched and installed": r"boot: seconds: release and install ([\d.]+)",
    "  of which converge and gate": r"converge and gate ([\d.]+)",
}


def run(from_bake: bool) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("TWIN_BASTION_FROM_BAKE", None)
    if from_bake:
        env["TWIN_BASTION_FROM_BAKE"] = "1"
    output = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/integration/test_twin_ec2.py", "-k", "bastion_configures"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    figures = {}
    for name, pattern in FIGURES.items():
        found = re.search(pattern, output)
        if found:
            figures[name] = float(found.group(1))
    if "scale-out to InService" not in figures:
        sys.stderr.write(output[-4000:])
    return figures


def main() -> int:
    results = {"base image": run(from_bake=False), "bake": run(from_bake=True)}
    for image, figures in results.items():
        print(f"from the {image}:")
        for name, seconds in figures.items():
            print(f"  {name:<45} {seconds:7.1f} s")
    base = results["base image"].get("scale-out to InService")
    baked = results["bake"].get("scale-out to InService")
    if base and baked:
        print(f"scale-out to InService: {base / baked:.1f}x faster from the bake")
    return 0


if __name__ == "__main__":
    sys.exit(main())
