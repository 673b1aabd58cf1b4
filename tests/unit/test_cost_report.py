"""scripts/cost-report on the real inventories: a report for each, the diff of a one-line
change, git revisions, and the refusal of stale prices."""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("prod", "staging", "dev")
SCRIPT = ROOT / "scripts" / "cost-report"
PRICE_DATE = datetime.date.fromisoformat(
    yaml.safe_load((ROOT / "data" / "prices" / "us-east-1.yml").read_text())["date"]
)
# The committed prices are a day old here: the tests do not age with the calendar.
TODAY = ["--today", (PRICE_DATE + datetime.timedelta(days=1)).isoformat()]


def _load_script() -> Any:
    loader = importlib.machinery.SourceFileLoader("cost_report_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    loader.exec_module(module)
    return module


script = _load_script()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = script.main([*args, *TODAY])
    out, err = capsys.readouterr()
    return status, out, err


def _total(text: str, label: str = "Total") -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(label + " "))
    return row.split()[-3:]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_prints_a_report(capsys: pytest.CaptureFixture[str], env: str) -> None:
    status, out, err = run(capsys, env)
    assert (status, err) == (0, "")
    assert out.startswith(f"Monthly cost of {env} ({env}, us-east-1)")
    assert f"dated {PRICE_DATE}" in out
    for heading in ("By service", "By tier", "Usage assumptions"):
        assert heading in out
    low, mid, high = (float(value.replace(",", "")) for value in _total(out))
    assert 0 < low <= mid <= high


def test_the_prod_report_counts_what_provisioning_creates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _status, out, _err = run(capsys, "prod")
    assert "NAT gateways, one per zone (2)" in out
    assert "PostgreSQL db.r5.xlarge, Multi-AZ" in out
    assert "Redis nodes, 3 x cache.r6g.xlarge" in out
    assert "nginx 2/3/5, api 2/5/10, celery 2/5/10, monitoring 2/2/2, bastion 1/1/1" in out
    # 3 x 0.411 x 730 for Redis; 2 x 0.5 x 730 for the Multi-AZ database.
    assert "900.09" in out and "730.00" in out


def test_the_entry_point_runs_with_the_venv() -> None:
    """Started by the system's Python (no PyYAML, no Ansible), it runs again in .venv."""
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    done = subprocess.run([python, str(SCRIPT), "dev", *TODAY], capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Monthly cost of dev")


def _copy(env: str, into: Path) -> Path:
    """An inventory's group_vars/all in a directory of its own (links followed)."""
    target = into / env / "group_vars" / "all"
    shutil.copytree(ROOT / "inventories" / env / "group_vars" / "all", target, symlinks=False)
    return into / env


def test_a_one_line_change_costs_exactly_that_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    changed = _copy("prod", tmp_path)
    aws = changed / "group_vars" / "all" / "aws.yml"
    text = aws.read_text()
    old = "api: {instance_type: t3.large, volume_size: 30, min_size: 2, max_size: 10,"
    assert text.count(old) == 1
    aws.write_text(text.replace(old, old.replace("max_size: 10", "max_size: 11")))
    status, out, err = run(capsys, "--diff", "prod", str(changed))
    assert (status, err) == (0, "")
    changes = [line for line in out.splitlines() if line.startswith("  ")]
    assert changes and all(line.endswith("[aws_asgs.api]") for line in changes)
    # One more t3.large at max: 730 h x 0.0832 + 30 GB x 0.08 + 7 metrics x 0.30 = 65.236.
    assert _total(out, "Change") == ["+0.00", "+0.00", "+65.24"]


def test_an_unchanged_inventory_has_no_cost_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _err = run(capsys, "--diff", "staging", str(_copy("staging", tmp_path)))
    assert status == 0
    assert "no line changes" in out
    assert _total(out, "Change") == ["+0.00", "+0.00", "+0.00"]


def test_two_environments_diff_line_by_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _err = run(capsys, "--diff", "dev", "prod")
    assert status == 0
    assert "was PostgreSQL db.t3.micro, Single-AZ" in out
    _s, dev, _e = run(capsys, "dev")
    _s, prod, _e = run(capsys, "prod")
    before, after = (float(_total(text)[2].replace(",", "")) for text in (dev, prod))
    change = float(_total(out, "Change")[2].replace(",", ""))
    assert change == pytest.approx(after - before, abs=0.011)  # each total rounded to cents


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git work tree")
def test_a_git_revision_follows_the_linked_network_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "HEAD", "--",
                           "inventories/staging/group_vars/all/cost.yml"],
                          capture_output=True, text=True, check=True).stdout
    if not head:
        pytest.skip("HEAD predates the cost report")
    status, out, err = run(capsys, "HEAD:staging")
    assert (status, err) == (0, ""), err
    assert "NAT gateways, one per zone (2)" in out  # network_zones, from the linked network.yml


def test_stale_prices_are_refused_then_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    late = (PRICE_DATE + datetime.timedelta(days=91)).isoformat()
    assert script.main(["prod", "--today", late]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"cost-report: the us-east-1 price file is dated {PRICE_DATE}, 91 days ago, older than "
        "the 90 days allowed: refresh it with scripts/cost-report --refresh-prices (needs AWS "
        "access), or pass --allow-stale-prices to report with these prices anyway\n"
    )
    assert script.main(["prod", "--today", late, "--max-price-age", "91"]) == 0
    capsys.readouterr()
    assert script.main(["prod", "--today", late, "--allow-stale-prices"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"warning: the us-east-1 price file is dated {PRICE_DATE}, 91 days ago")
    assert out.startswith("Monthly cost of prod")


def test_an_unknown_environment_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _out, err = run(capsys, "qa")
    assert status == 1
    assert err.startswith("cost-report: no environment 'qa'")


def test_the_figures_in_docs_cost_md_are_the_reports(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {}
    for line in (ROOT / "docs" / "cost.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = cells[0].split(" ", 1)[0]
        if line.startswith("| ") and name in ENVIRONMENTS and len(cells) == 4:
            rows[name] = cells[1:]
    assert sorted(rows) == sorted(ENVIRONMENTS)
    for env, figures in rows.items():
        _status, out, _err = run(capsys, env)
        assert _total(out) == figures, f"docs/cost.md's figures for {env} are out of date"


class CommittedPrices:
    """A pricing client answering GetProducts with the committed price file's own prices, one
    product per query of the request, in AWS's PriceList format."""

    def __init__(self) -> None:
        self.prices = yaml.safe_load((ROOT / "data" / "prices" / "us-east-1.yml").read_text())

    def get_paginator(self, _name: str) -> CommittedPrices:
        return self

    def paginate(self, **request: Any) -> list[dict[str, Any]]:
        import json

        wanted = script.cost_pricing.wanted_types([self.prices], [])
        entries = []
        for query in script.cost_pricing.queries("us-east-1", wanted):
            if query.request() != request:
                continue
            price = self.prices["prices"]
            for step in query.path:
                price = price[step]
            dimension = {"unit": query.unit, "beginRange": "0", "endRange": "Inf",
                         "pricePerUnit": {"USD": f"{price / query.scale:.10f}"}}
            entries.append(json.dumps({
                "product": {"attributes": {"usagetype": "USE1-" + query.usagetype_suffix}},
                "terms": {"OnDemand": {"T": {"priceDimensions": {"D": dimension}}}},
            }))
        return [{"PriceList": entries}]


def test_refreshed_prices_write_a_file_the_report_reads_alike(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    monkeypatch.setattr(boto3, "client", lambda service, region_name: CommittedPrices())
    refreshed = tmp_path / "us-east-1.yml"
    status, out, err = run(capsys, "--refresh-prices", "us-east-1", "--prices", str(refreshed))
    assert (status, err) == (0, ""), err
    assert out == f"wrote {refreshed}, dated {TODAY[1]}\n"
    data = yaml.safe_load(refreshed.read_text())
    assert data["date"] == TODAY[1] and "pricing:GetProducts" in data["source"]
    lint = subprocess.run([sys.executable, "-m", "yamllint", "--strict", "-c",
                           str(ROOT / ".yamllint"), str(refreshed)],
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout
    _s, before, _e = run(capsys, "prod")
    _s, after, _e = run(capsys, "prod", "--prices", str(refreshed))
    assert _total(after) == _total(before)


def test_refresh_without_aws_access_says_so_and_keeps_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3
    from botocore.exceptions import NoCredentialsError

    class NoAccess(CommittedPrices):
        def paginate(self, **request: Any) -> list[dict[str, Any]]:
            raise NoCredentialsError()

    monkeypatch.setattr(boto3, "client", lambda service, region_name: NoAccess())
    kept = tmp_path / "us-east-1.yml"
    committed = (ROOT / "data" / "prices" / "us-east-1.yml").read_text()
    kept.write_text(committed)
    status, out, err = run(capsys, "--refresh-prices", "us-east-1", "--prices", str(kept))
    assert (status, out) == (1, "")
    assert err == (f"cost-report: the AWS Price List API could not be read (Unable to locate "
                   f"credentials); {kept} is unchanged\n")
    assert kept.read_text() == committed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a price file (no prices mapping)"),
        ("region: eu-west-1\ndate: '2026-12-06'\nprices: {}\n",
         "holds prices of eu-west-1, not us-east-1"),
        ("region: us-east-1\ndate: '2026-12-06'\nprices: {}\n",
         "has no price ec2_instance_hour t3.medium"),
    ],
)
def test_a_wrong_price_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    wrong = tmp_path / "prices.yml"
    wrong.write_text(text)
    status, out, err = run(capsys, "prod", "--prices", str(wrong))
    assert (status, out) == (1, "")
    assert err.startswith("cost-report: ") and message in err
