"""The alarm rules: who the alert topic reaches, and the connection alarm's fleet arithmetic.

The threshold properties are checked with hypothesis over any fleet that fits its database:
the fleet's pools at their fullest cross the threshold; a count at the threshold does not.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.alarms import (
    alert_subscriptions,
    db_connections_alarm,
    replica_lag_alarm,
    s3_request_alarms,
    server_connections_per_host,
)
from hypothesis import assume, given
from hypothesis import strategies as st

PROD_ASGS = {"api": {"max_size": 10}, "celery": {"max_size": 10}, "nginx": {"max_size": 5}}


# -- alert subscriptions ------------------------------------------------------------------------


def test_emails_and_https_endpoints_become_subscriptions_in_order() -> None:
    assert alert_subscriptions(
        ["ops@example.com", "oncall@example.org"], ["https://pager.example.com/sns?k=1"], "prod"
    ) == [
        {"protocol": "email", "endpoint": "ops@example.com"},
        {"protocol": "email", "endpoint": "oncall@example.org"},
        {"protocol": "https", "endpoint": "https://pager.example.com/sns?k=1"},
    ]


@pytest.mark.parametrize("environment", ["prod", "staging"])
def test_prod_and_staging_without_any_subscription_are_refused(environment: str) -> None:
    with pytest.raises(ValueError, match=f"^{environment} needs at least one alert subscription"):
        alert_subscriptions([], [], environment)
    with pytest.raises(ValueError, match=r"aws_alert_emails .* or aws_alert_https_endpoints"):
        alert_subscriptions(None, None, environment)


def test_dev_may_have_none_and_one_kind_is_enough() -> None:
    assert alert_subscriptions([], [], "dev") == []
    assert alert_subscriptions([], ["https://hooks.example.com/a"], "prod") == [
        {"protocol": "https", "endpoint": "https://hooks.example.com/a"}
    ]
    assert alert_subscriptions([], [], "prod", required_in=["staging"]) == []


@pytest.mark.parametrize(
    ("emails", "urls", "message"),
    [
        (["ops.example.com"], [], "'ops.example.com' is not an e-mail address"),
        (["ops@example"], [], "not an e-mail address"),
        (["a b@example.com"], [], "not an e-mail address"),
        ([], ["http://pager.example.com/sns"], "is not an https:// URL"),
        ([], ["https://"], "is not an https:// URL"),
        (["ops@example.com", "ops@example.com"], [], "lists ops@example.com more than once"),
        ("ops@example.com", [], "aws_alert_emails must be a list of strings"),
        ([], [42], "aws_alert_https_endpoints must be a list of strings"),
    ],
)
def test_malformed_subscriptions_are_refused_everywhere(
    emails: Any, urls: Any, message: str
) -> None:
    for environment in ("prod", "dev"):
        with pytest.raises(ValueError, match=message):
            alert_subscriptions(emails, urls, environment)


# -- the connection alarm ----------------------------------------------------------------------


def test_prod_threshold_is_90_percent_of_what_the_fleet_can_open() -> None:
    """20 hosts at max_size x (pool 20 + reserve 5) = 500; 90 % is 450 (540 before: 90 % of
    max_connections, which the fleet could never reach)."""
    per_host = server_connections_per_host([{"name": "ideation_db"}], 20, 5)
    assert db_connections_alarm(PROD_ASGS, 600, 90, per_host, headroom=10) == {
        "hosts": 20, "per_host": 25, "fleet": 500, "max_connections": 600, "threshold": 450,
    }  # fmt: skip


def test_per_host_counts_each_database_with_its_own_pool() -> None:
    databases = [{"name": "a"}, {"name": "b", "pool_size": 8, "reserve_pool": 0}]
    assert server_connections_per_host(databases, 20, "5") == 25 + 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_connections": 400}, r"do not fit the database: 20 hosts .* = 500, .* leaves 390"),
        ({"percent": 100}, "above 0 and below 100"),
        ({"percent": 0}, "above 0 and below 100"),
        ({"asgs": {"api": {"max_size": 2}}}, "aws_asgs has no group celery"),
        ({"asgs": {"api": {"max_size": 0}, "celery": {"max_size": 1}}}, "at least 1"),
        ({"per_host": True}, "whole number"),
    ],
)
def test_impossible_fleets_and_thresholds_are_refused(kwargs: dict[str, Any], message: str):
    arguments = {"asgs": PROD_ASGS, "max_connections": 600, "percent": 90, "per_host": 25,
                 "headroom": 10, **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        db_connections_alarm(**arguments)


def test_a_database_list_without_databases_is_refused() -> None:
    with pytest.raises(ValueError, match="pgbouncer_databases is empty"):
        server_connections_per_host([], 20, 5)


fleets = st.fixed_dictionaries(
    {
        "api": st.integers(1, 50),
        "celery": st.integers(1, 50),
        "per_host": st.integers(1, 200),
        "percent": st.one_of(st.integers(1, 99), st.floats(0.5, 99.5).map(lambda f: round(f, 1))),
        "headroom": st.integers(0, 50),
        "spare": st.integers(0, 1000),
    }
)


@given(fleets)
def test_the_full_fleet_always_crosses_the_threshold(fleet: dict[str, Any]) -> None:
    hosts = fleet["api"] + fleet["celery"]
    opened = hosts * fleet["per_host"]
    max_connections = opened + fleet["headroom"] + fleet["spare"]
    result = db_connections_alarm(
        {"api": {"max_size": fleet["api"]}, "celery": {"max_size": fleet["celery"]}},
        max_connections, fleet["percent"], fleet["per_host"], fleet["headroom"],
    )  # fmt: skip
    assert result["fleet"] == opened and result["hosts"] == hosts
    threshold = result["threshold"]
    # GreaterThanThreshold: the pools at their fullest breach, the threshold itself does not.
    assert opened > threshold
    # Exact arithmetic, as the rule's: 1,500 x 64.6 / 100 is 968.999... in floats, 969 exactly.
    assert threshold <= opened * Fraction(str(fleet["percent"])) / 100 < threshold + 1
    # Reachable: under what the database accepts from the fleet.
    assert threshold < max_connections - fleet["headroom"]


@given(fleets, st.integers(1, 99))
def test_a_higher_percent_never_lowers_the_threshold(fleet: dict[str, Any], other: int) -> None:
    assume(other != fleet["percent"])
    asgs = {"api": {"max_size": fleet["api"]}, "celery": {"max_size": fleet["celery"]}}
    opened = (fleet["api"] + fleet["celery"]) * fleet["per_host"]

    def threshold(percent: float) -> int:
        return db_connections_alarm(asgs, opened, percent, fleet["per_host"])["threshold"]

    low, high = sorted([fleet["percent"], other])
    assert threshold(low) <= threshold(high)


@given(fleets)
def test_a_fleet_one_host_too_big_is_refused(fleet: dict[str, Any]) -> None:
    opened = (fleet["api"] + fleet["celery"]) * fleet["per_host"]
    asgs = {"api": {"max_size": fleet["api"] + 1}, "celery": {"max_size": fleet["celery"]}}
    with pytest.raises(ValueError, match="do not fit the database"):
        db_connections_alarm(asgs, opened + fleet["headroom"], 90, fleet["per_host"],
                             fleet["headroom"])  # fmt: skip


# -- S3 request error rates ---------------------------------------------------------------------

S3_THRESHOLDS = {"s3_4xx_percent": 10, "s3_5xx_percent": 1, "s3_errors_minutes": 5}


def test_the_bucket_gets_a_4xx_and_a_5xx_rate_alarm_on_its_request_metrics() -> None:
    four, five = s3_request_alarms("ideation-documents-prod", "ideation-prod", S3_THRESHOLDS)
    assert four == {
        "name": "ideation-prod-ideation-documents-prod-4xx-rate-high",
        "description": "S3 bucket ideation-documents-prod: more than 10 % of requests answered "
        "with 4xx in each of 5 minutes",
        "namespace": "AWS/S3",
        "metric_name": "4xxErrors",
        "dimensions": {"BucketName": "ideation-documents-prod", "FilterId": "EntireBucket"},
        "statistic": "Average",
        "comparison": "GreaterThanThreshold",
        "threshold": 0.1,
        "period": 60,
        "evaluation_periods": 5,
        "treat_missing_data": "notBreaching",
    }
    assert (five["metric_name"], five["threshold"]) == ("5xxErrors", 0.01)
    assert five["name"].endswith("-5xx-rate-high") and five["dimensions"] == four["dimensions"]


@given(percent=st.decimals(min_value="0.01", max_value="99.99", places=2))
def test_the_threshold_is_the_percent_as_the_share_average_reports(percent: Any) -> None:
    """4xxErrors' Average is a share (0 to 1), not a percent: the threshold is percent / 100."""
    thresholds = {**S3_THRESHOLDS, "s3_4xx_percent": str(percent)}
    (four, _five) = s3_request_alarms("b", "p", thresholds)
    assert abs(four["threshold"] - float(percent) / 100) < 1e-12


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"s3_4xx_percent": 10, "s3_5xx_percent": 1}, "aws_alarms has no s3_errors_minutes"),
        ({**S3_THRESHOLDS, "s3_5xx_percent": 0}, r"s3_5xx_percent must be above 0 and below 100"),
        ({**S3_THRESHOLDS, "s3_4xx_percent": 100}, "s3_4xx_percent must be above 0 and below 100"),
        ({**S3_THRESHOLDS, "s3_4xx_percent": "ten"}, "s3_4xx_percent must be a number"),
        ({**S3_THRESHOLDS, "s3_errors_minutes": 0}, "s3_errors_minutes must be at least 1"),
        ({**S3_THRESHOLDS, "s3_errors_minutes": True}, "s3_errors_minutes must be a whole number"),
    ],
)
def test_bad_thresholds_are_refused_by_name(thresholds: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        s3_request_alarms("b", "p", thresholds)


def test_a_bucket_and_a_filter_id_are_required() -> None:
    with pytest.raises(ValueError, match="the bucket must be a name"):
        s3_request_alarms("", "p", S3_THRESHOLDS)
    with pytest.raises(ValueError, match="the metrics filter id must be a name"):
        s3_request_alarms("b", "p", S3_THRESHOLDS, filter_id="")
# -- replica lag --------------------------------------------------------------------------------


def test_the_replica_lag_alarm_fires_at_the_apps_limit_at_the_latest() -> None:
    assert replica_lag_alarm(30, 5, 30) == {"threshold": 30, "evaluation_periods": 5,
                                            "period": 60}
    assert replica_lag_alarm("10", "3", 30)["threshold"] == 10


def test_a_lag_alarm_above_the_apps_fallback_is_refused() -> None:
    with pytest.raises(ValueError, match=r"fires above 31 s, but the application stops reading"
                                         r" from the replica above 30 s"):
        replica_lag_alarm(31, 5, 30)


@pytest.mark.parametrize(("seconds", "minutes", "limit", "message"), [
    (0, 5, 30, "lag_alarm_seconds must be at least 1"),
    (30, 0, 30, "lag_alarm_minutes must be at least 1"),
    (True, 5, 30, "lag_alarm_seconds must be a whole number"),
    (30, 5, "soon", "platform_db_read_max_lag must be a whole number"),
])
def test_bad_lag_alarm_numbers_are_refused(seconds: Any, minutes: Any, limit: Any,
                                           message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replica_lag_alarm(seconds, minutes, limit)
