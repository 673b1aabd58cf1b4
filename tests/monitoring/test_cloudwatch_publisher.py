"""The prometheus role's CloudWatch publisher (files/prometheus-cloudwatch-publisher) against a
real Prometheus on 127.0.0.1 (Debian's, the one promtool comes with) and moto's
CloudWatch in process: what it publishes, what it refuses to make up, and how it fails.

The role's Molecule scenario runs it on the monitoring hosts, by its systemd timer, against the
scenario's Prometheus and a recorder standing in for CloudWatch.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROLE = Path(__file__).resolve().parents[2] / "roles" / "prometheus"
SCRIPT = ROLE / "files" / "prometheus-cloudwatch-publisher"
NAMESPACE = "IdeationTest"
TWO_SERIES = ('label_replace(vector(1), "queue", "a", "", "")'
              ' or label_replace(vector(2), "queue", "b", "", "")')


def load_publisher():
    loader = importlib.machinery.SourceFileLoader("cloudwatch_publisher", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


publisher = load_publisher()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> str:
    """A Prometheus with no target: the queries use vector() and functions, not scraped data."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: install Debian's prometheus package"
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text("global:\n  evaluation_interval: 1s\n")
    url = f"http://127.0.0.1:{free_port()}"
    log = (work / "log").open("w")
    server = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address={url.removeprefix('http://')}"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (work / "log").read_text()
            assert time.monotonic() < deadline, "Prometheus not ready within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def write_config(tmp_path: Path, prometheus: str, metrics: list[dict], **extra) -> str:
    config = {"prometheus_url": prometheus, "namespace": NAMESPACE, "region": "us-east-1",
              "dimensions": {"Environment": "test"}, "metrics": metrics, **extra}
    path = tmp_path / "publisher.json"
    path.write_text(json.dumps(config))
    return str(path)


def published(cloudwatch) -> dict[str, dict]:
    """Each published metric's dimensions, unit and maximum over the last 10 minutes."""
    found = {}
    for metric in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]:
        now = time.time()
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName=metric["MetricName"], Dimensions=metric["Dimensions"],
            StartTime=now - 600, EndTime=now + 60, Period=60, Statistics=["Maximum"])["Datapoints"]
        found[metric["MetricName"]] = {"dimensions": metric["Dimensions"],
                                       "values": [p["Maximum"] for p in points],
                                       "units": {p["Unit"] for p in points}}
    return found


def test_each_query_value_is_published_with_its_unit_and_dimensions(prometheus, aws, tmp_path):
    config = write_config(tmp_path, prometheus, [
        {"name": "CeleryQueueDepth", "query": "sum(vector(3))", "unit": "Count"},
        {"name": "HttpErrorRatePercent", "query": "100 * vector(0.25)", "unit": "Percent"},
    ])
    assert publisher.main(["--config", config]) == 0
    metrics = published(aws)
    assert metrics["CeleryQueueDepth"] == {
        "dimensions": [{"Name": "Environment", "Value": "test"}], "values": [3.0],
        "units": {"Count"}}
    assert metrics["HttpErrorRatePercent"]["values"] == [25.0]
    assert metrics["HttpErrorRatePercent"]["units"] == {"Percent"}


def test_series_dimensions_publish_one_datum_per_series_with_its_own_dimensions(
        prometheus, aws, tmp_path):
    """Memory per auto-scaling group: one series per role, each under its group's name alone
    (the memory alarms select on AutoScalingGroupName only, so the common dimensions stay off)."""
    by_role = ('label_replace(vector(40), "role", "api", "", "")'
               ' or label_replace(vector(60), "role", "celery", "", "")')
    config = write_config(tmp_path, prometheus, [
        {"name": "MemoryUsedPercent", "query": by_role, "unit": "Percent",
         "series_dimensions": {"AutoScalingGroupName": "ideation-test-{role}"}},
    ])
    assert publisher.main(["--config", config]) == 0
    metrics = aws.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert sorted(m["Dimensions"][0]["Value"] for m in metrics) == [
        "ideation-test-api", "ideation-test-celery"]
    assert all(len(m["Dimensions"]) == 1 for m in metrics), metrics
    now = time.time()
    celery = aws.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="MemoryUsedPercent", StartTime=now - 600,
        EndTime=now + 60, Period=60, Statistics=["Maximum"],
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": "ideation-test-celery"}])
    assert [p["Maximum"] for p in celery["Datapoints"]] == [60.0]


def test_a_series_without_the_label_series_dimensions_names_is_an_error(
        prometheus, aws, tmp_path, caplog):
    config = write_config(tmp_path, prometheus, [
        {"name": "MemoryUsedPercent", "query": "vector(40)", "unit": "Percent",
         "series_dimensions": {"AutoScalingGroupName": "ideation-test-{role}"}},
    ])
    assert publisher.main(["--config", config]) == 1
    assert "lacks the label 'role'" in caplog.text
    assert published(aws) == {}


def test_a_query_without_a_sample_publishes_nothing_for_it(prometheus, aws, tmp_path):
    """No traffic (no series) and 0/0 (NaN): the alarm must see missing data, not a value."""
    config = write_config(tmp_path, prometheus, [
        {"name": "NoSeries", "query": "sum(http_requests_total)", "unit": "Percent"},
        {"name": "NotANumber", "query": "vector(0) / 0", "unit": "Percent"},
        {"name": "Present", "query": "vector(1)", "unit": "Count"},
    ])
    assert publisher.main(["--config", config]) == 0
    assert set(published(aws)) == {"Present"}


def test_a_bad_query_fails_the_call_with_prometheus_reason_and_the_others_are_published(
        prometheus, aws, tmp_path, caplog):
    config = write_config(tmp_path, prometheus, [
        {"name": "Unparsable", "query": "sum(up", "unit": "Count"},
        {"name": "TwoSeries", "query": TWO_SERIES, "unit": "Count"},
        {"name": "Good", "query": "vector(7)", "unit": "Count"},
    ])
    with caplog.at_level(logging.INFO):
        assert publisher.main(["--config", config]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("Unparsable" in e and "parse error" in e for e in errors), errors
    assert any("TwoSeries" in e and "returns 2 series" in e for e in errors), errors
    assert published(aws)["Good"]["values"] == [7.0]


def test_dry_run_prints_the_data_and_calls_no_aws_api(prometheus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing answers there
    config = write_config(tmp_path, prometheus,
                          [{"name": "CeleryQueueDepth", "query": "vector(5)", "unit": "Count"}])
    assert publisher.main(["--config", config, "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["namespace"] == NAMESPACE
    [datum] = printed["metric_data"]
    assert (datum["MetricName"], datum["Value"], datum["Unit"]) == (
        "CeleryQueueDepth", 5.0, "Count")
    assert datum["Dimensions"] == [{"Name": "Environment", "Value": "test"}]


def test_cloudwatch_out_of_reach_fails_with_a_clear_message(prometheus, aws, tmp_path, caplog):
    config = write_config(tmp_path, prometheus, [{"name": "Q", "query": "vector(1)"}],
                          endpoint_url=f"http://127.0.0.1:{free_port()}")
    assert publisher.main(["--config", config]) == 1
    assert "publishing 1 metric(s) to CloudWatch failed" in caplog.text


@pytest.mark.parametrize("config, message", [
    ({"prometheus_url": "http://127.0.0.1:9090", "metrics": [{"name": "Q", "query": "up"}]},
     "lacks namespace"),
    ({"prometheus_url": "http://127.0.0.1:9090", "namespace": "N", "metrics": [{"name": "Q"}]},
     "needs a name and a query"),
])
def test_a_bad_configuration_exits_2_and_says_what_is_wrong(tmp_path, caplog, config, message):
    path = tmp_path / "publisher.json"
    path.write_text(json.dumps(config))
    assert publisher.main(["--config", str(path)]) == 2
    assert message in caplog.text
