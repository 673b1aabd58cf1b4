"""The error rate the CloudWatch publisher sends by default (roles/prometheus defaults), checked
by `promtool test rules` against input series: nginx's own 5xx count, no traffic is 0 while an
nginx answers, and nothing is published when none does (provisioning's alarm treats that missing
data as breaching: an outage). The publisher itself: test_cloudwatch_publisher.py.
"""

from __future__ import annotations

import json

import yaml

TEMPLATE = "etc/prometheus/cloudwatch-publisher.json.j2"
LB = 'job="nginx_log", instance="10.0.{n}.10:3903", prog="ideation_nginx.mtail", method="GET"'


def _series(n: int, status: str, values: str) -> dict[str, str]:
    return {"series": f"http_requests_total{{{LB.format(n=n)}, status=\"{status}\"}}",
            "values": values}  # fmt: skip


def _nginx_up(n: int, values: str) -> dict[str, str]:
    return {"series": f'nginx_up{{job="nginx", instance="10.0.{n}.10:9113"}}', "values": values}


def _case(name: str, series: list[dict[str, str]], samples: list[dict]) -> dict:
    return {"name": name, "interval": "15s", "input_series": series,
            "promql_expr_test": [{"expr": "__QUERY__", "eval_time": "10m",
                                  "exp_samples": samples}]}  # fmt: skip


CASES = [
    # Two load balancers, 400 answers per 15 s, 20 of them 502 from nginx itself: 5 %.
    _case("nginx's 502s count", [
        _series(1, "200", "0+180x60"), _series(1, "502", "0+20x60"),
        _series(2, "200", "0+200x60"), _nginx_up(1, "1x60"), _nginx_up(2, "1x60"),
    ], [{"labels": "{}", "value": 5}]),
    _case("4xx and 429 are not errors; 504 is", [
        _series(1, "200", "0+150x60"), _series(1, "404", "0+20x60"),
        _series(1, "429", "0+20x60"), _series(1, "504", "0+10x60"),
    ], [{"labels": "{}", "value": 5}]),
    _case("traffic without any 5xx series is 0", [_series(1, "200", "0+100x60")],
          [{"labels": "{}", "value": 0}]),
    _case("no traffic while an nginx answers is 0, not missing", [
        _series(1, "200", "5x60"), _nginx_up(1, "1x60"), _nginx_up(2, "0x60"),
    ], [{"labels": "{}", "value": 0}]),
    _case("no traffic and no nginx up publishes nothing", [
        _series(1, "200", "5x60"), _nginx_up(1, "0x60"), _nginx_up(2, "0x60"),
    ], []),
    _case("no nginx target at all publishes nothing", [
        {"series": 'up{job="node", instance="10.0.10.5:9100"}', "values": "1x60"},
    ], []),
]  # fmt: skip


def test_default_error_rate_query(render_role_template, promtool, tmp_path):
    config = json.loads(
        render_role_template("prometheus", TEMPLATE, prometheus_listen_address="127.0.0.1")
    )
    [metric] = [m for m in config["metrics"] if m["name"] == "HttpErrorRatePercent"]
    assert metric["unit"] == "Percent" and "series_dimensions" not in metric
    tests = yaml.safe_dump({"evaluation_interval": "15s", "tests": CASES}, sort_keys=False)
    (tmp_path / "query.test.yml").write_text(tests.replace("__QUERY__", metric["query"]))
    result = promtool("test", "rules", "query.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_query_fails_promtool_when_nginx_5xx_are_left_out(render_role_template, promtool,
                                                              tmp_path):
    """The expectations above can fail: the old API-only query does not meet them."""
    old = ('100 * sum(rate(http_requests_total{job="api", status=~"5.."}[5m]))'
           ' / sum(rate(http_requests_total{job="api"}[5m]))')  # fmt: skip
    tests = yaml.safe_dump({"evaluation_interval": "15s", "tests": CASES}, sort_keys=False)
    (tmp_path / "query.test.yml").write_text(tests.replace("__QUERY__", old))
    result = promtool("test", "rules", "query.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    # It has no value for the four cases with one (only the two "nothing" cases pass).
    assert (result.stdout + result.stderr).count("got: nil") == 4, result.stdout + result.stderr
