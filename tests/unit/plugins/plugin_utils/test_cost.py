"""The cost model on a small environment whose bill is computed here by hand."""

from __future__ import annotations

import copy
import datetime
import re
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils import cost

# Round prices, so that every figure below can be checked with pencil and paper.
PRICES: dict[str, Any] = {
    "region": "us-east-1",
    "date": "2026-12-01",
    "prices": {
        "ec2_instance_hour": {"t3.micro": 0.01, "t3.small": 0.02},
        "ebs_gb_month": {"gp3": 0.1},
        "public_ipv4_hour": 0.005,
        "nat_gateway_hour": 0.05,
        "nat_gateway_gb": 0.05,
        "data_transfer_out_gb": 0.1,
        "rds_instance_hour": {"single_az": {"db.t3.micro": 0.02},
                              "multi_az": {"db.t3.micro": 0.04}},
        "rds_storage_gb_month": {"single_az": {"gp2": 0.1, "gp3": 0.1}, "multi_az": {"gp3": 0.2}},
        "rds_gp3_iops_month": {"single_az": 0.02, "multi_az": 0.04},
        "rds_gp3_throughput_month": {"single_az": 0.08, "multi_az": 0.16},
        "rds_backup_gb_month": 0.1,
        "elasticache_node_hour": {"cache.t4g.micro": 0.02},
        "elasticache_backup_gb_month": 0.1,
        "s3_standard_gb_month": 0.02,
        "s3_glacier_gb_month": 0.004,
        "s3_put_per_1000": 0.005,
        "s3_get_per_1000": 0.0004,
        "cloudwatch_alarm_month": 0.1,
        "cloudwatch_metric_month": 0.3,
        "cloudwatch_requests_per_1000": 0.01,
        "logs_ingest_gb": 0.5,
        "logs_storage_gb_month": 0.03,
        "route53_zone_month": 0.5,
        "route53_queries_per_million": 0.4,
        "route53_health_check_month": 0.5,
        "route53_health_check_feature_month": 1.0,
        "kms_key_month": 1.0,
        "secretsmanager_secret_month": 0.4,
    },
}

SMALL: dict[str, Any] = {
    "aws_region": "us-east-1",
    "network_zones": ["us-east-1a", "us-east-1b"],
    "aws_asgs": {
        "web": {"instance_type": "t3.micro", "volume_size": 10, "min_size": 1, "max_size": 3,
                "tier": "public", "scaling": "cpu"},
        "monitoring": {"instance_type": "t3.small", "volume_size": 20, "min_size": 1,
                       "max_size": 1, "tier": "private"},
    },
    "cost_desired_sizes": {"web": 2},
    "aws_elastic_ips": [{"name": "small-web-1", "role": "web"}],
    "aws_rds": {"instance_class": "db.t3.micro", "allocated_storage": 20, "storage_type": "gp2",
                "multi_az": False},
    "aws_redis": {"node_type": "cache.t4g.micro", "nodes": 1, "snapshot_retention_days": 1},
    "aws_s3_glacier_transition_days": 90,
    "aws_s3_expiration_days": 365,
    "aws_log_groups": ["/small/app"],
    "aws_log_retention_days": 30,
    "aws_health_check": {"interval": 30},
    "platform_domain": "small.example.com",
    "platform_secrets": {"a": "small/a", "b": "small/b"},
    "cost_usage": {"nat_gb": 10, "internet_out_gb": 10, "db_backup_gb": 30, "documents_gb": 365,
                   "s3_put_requests": 1000, "log_gb": 10},
}

# By hand, USD per month (730 hours). Each web instance (1, 2, 3 at min, desired, max):
# 730 h x 0.01 = 7.30, 10 GB x 0.1 = 1.00, 7 metrics x 0.3 = 2.10, its address 730 h x 0.005
# = 3.65 (the Elastic IP on the first, launch addresses on the others): 14.05.
WEB_EACH = 7.30 + 1.00 + 2.10 + 3.65
PUBLIC_FIXED = 2 * 730 * 0.05 + 2 * 730 * 0.005 + 10 * 0.05 + 10 * 0.1  # NATs, their IPs, data
PRIVATE = 730 * 0.02 + 20 * 0.1 + 7 * 0.3 + 730 * 0.02  # monitoring host, disk, metrics; Redis
DATABASE = 730 * 0.02 + 20 * 0.1 + (30 - 20) * 0.1  # instance, storage, backups over 20 GB
REGIONAL = (
    90 * 0.02 + 275 * 0.004 + 1 * 0.005  # 365 GB: 90 days' worth in Standard, 275 in Glacier
    + (2 + 2 + 1 + 3) * 0.1  # alarms: web out/in, memory x2, Redis node, error/db/health
    + 10 * 0.5 + 10 * 0.03  # logs ingested, 30 days of them stored
    + 0.5 + 0.5 + 1.0  # zone, health check, its HTTPS feature
    + 1.0 + 2 * 0.4  # KMS key, two secrets
)
FIXED = PUBLIC_FIXED + PRIVATE + DATABASE + REGIONAL


def _report(env: dict[str, Any]) -> list[cost.PricedLine]:
    return cost.price_lines(cost.cost_lines(env), PRICES)


def test_small_environment_costs_what_was_computed_by_hand() -> None:
    total = cost.total(_report(SMALL))
    assert total == pytest.approx((FIXED + WEB_EACH, FIXED + 2 * WEB_EACH, FIXED + 3 * WEB_EACH))
    assert total == pytest.approx((159.555, 173.605, 187.655))


def test_small_environment_by_tier_and_by_service() -> None:
    priced = _report(SMALL)
    tiers = dict(cost.summarize(priced, "tier"))
    assert tiers["public"] == pytest.approx(tuple(PUBLIC_FIXED + n * WEB_EACH for n in (1, 2, 3)))
    assert tiers["private"] == pytest.approx((PRIVATE,) * 3)
    assert tiers["database"] == pytest.approx((DATABASE,) * 3)
    assert tiers["regional"] == pytest.approx((REGIONAL,) * 3)
    services = dict(cost.summarize(priced, "service"))
    assert services["EC2"] == pytest.approx(tuple(14.60 + 7.30 * n for n in (1, 2, 3)))
    assert services["VPC"] == pytest.approx(tuple(73.0 + 7.30 + 0.5 + 3.65 * n for n in (1, 2, 3)))
    assert sum(t[2] for t in services.values()) == pytest.approx(cost.total(priced)[2])


def test_report_prints_every_line_and_the_totals() -> None:
    priced = _report(SMALL)
    sizes = cost.group_sizes(SMALL["aws_asgs"], SMALL["cost_desired_sizes"])
    text = cost.format_report("Monthly cost of small", priced, sizes, "Prices: test", {})
    assert "web 1/2/3, monitoring 1/1/1" in text
    assert "web instances, t3.micro" in text
    assert text.rstrip().splitlines()[-3].split()[-3:] == ["159.56", "173.61", "187.66"]


def test_one_changed_line_is_all_the_diff_shows() -> None:
    bigger = copy.deepcopy(SMALL)
    bigger["aws_asgs"]["web"]["max_size"] = 4
    changes = cost.diff_lines(_report(SMALL), _report(bigger))
    sources = {b.line.source for _a, b, _d in changes}
    assert sources == {"aws_asgs.web", "aws_asgs.web, aws_elastic_ips"}
    assert sum(d[2] for _a, _b, d in changes) == pytest.approx(WEB_EACH)
    assert all(d[0] == d[1] == 0 for _a, _b, d in changes)
    text = cost.format_diff("diff", _report(SMALL), _report(bigger))
    assert text.rstrip().splitlines()[-1].split()[-3:] == ["+0.00", "+0.00", "+14.05"]


def test_a_new_instance_type_shows_as_a_changed_line() -> None:
    bigger = copy.deepcopy(SMALL)
    bigger["aws_asgs"]["monitoring"]["instance_type"] = "t3.micro"
    ((before, after, delta),) = cost.diff_lines(_report(SMALL), _report(bigger))
    assert before.line.what == "monitoring instances, t3.small"
    assert after.line.what == "monitoring instances, t3.micro"
    assert delta == pytest.approx((-7.30,) * 3)
    assert "was monitoring instances, t3.small" in cost.format_diff(
        "diff", _report(SMALL), _report(bigger))


def test_no_change_no_lines() -> None:
    assert cost.diff_lines(_report(SMALL), _report(SMALL)) == []
    assert "no line changes" in cost.format_diff("diff", _report(SMALL), _report(SMALL))


def test_gp3_multi_az_database_pays_for_iops_and_throughput_above_the_baseline() -> None:
    env = copy.deepcopy(SMALL)
    env["aws_rds"] = {"instance_class": "db.t3.micro", "allocated_storage": 100,
                      "storage_type": "gp3", "iops": 5000, "storage_throughput": 125,
                      "multi_az": True}
    lines = {p.line.key: p.monthly[0] for p in _report(env)}
    assert lines["rds:instance"] == pytest.approx(730 * 0.04)
    assert lines["rds:storage"] == pytest.approx(100 * 0.2)
    assert lines["rds:iops"] == pytest.approx((5000 - 3000) * 0.04)
    assert lines["rds:throughput"] == 0
    assert lines["rds:backup"] == 0  # 30 GB of backups, 100 GB free


def test_a_read_replica_is_a_single_az_instance_with_the_primarys_storage() -> None:
    env = copy.deepcopy(SMALL)
    env["aws_rds"] = {"instance_class": "db.t3.micro", "allocated_storage": 100,
                      "storage_type": "gp3", "iops": 5000, "storage_throughput": 125,
                      "multi_az": True}
    without = cost.total(_report(env))
    env["aws_rds_replica"] = {"enabled": True, "instance_class": "db.t3.micro"}
    lines = {p.line.key: p.monthly[0] for p in _report(env)}
    assert lines["rds:replica"] == pytest.approx(730 * 0.02)
    assert lines["rds:replica-storage"] == pytest.approx(100 * 0.1)
    assert lines["rds:replica-iops"] == pytest.approx((5000 - 3000) * 0.02)
    assert lines["cloudwatch:alarms:replica"] == pytest.approx(0.1)
    added = 730 * 0.02 + 100 * 0.1 + 2000 * 0.02 + 0.1  # no backups: a replica keeps none
    assert cost.total(_report(env))[0] == pytest.approx(without[0] + added)
    env["aws_rds_replica"]["enabled"] = False
    assert cost.total(_report(env)) == pytest.approx(without)


def test_publishing_metrics_from_prometheus_is_counted() -> None:
    env = {**SMALL, "prometheus_cloudwatch_enabled": True}
    lines = {p.line.key: p.monthly[0] for p in _report(env)}
    assert lines["cloudwatch:custom"] == pytest.approx((2 + 2) * 0.3)
    # One PutMetricData call a minute from the one monitoring host: 43,800 a month.
    assert lines["cloudwatch:put"] == pytest.approx(43.8 * 0.01)
    assert "cloudwatch:custom" not in {p.line.key for p in _report(SMALL)}


def test_s3_request_metrics_and_their_alarms_are_counted() -> None:
    env = {**SMALL, "aws_s3_request_metrics_id": "EntireBucket"}
    lines = {p.line.key: p.monthly[0] for p in _report(env)}
    assert lines["cloudwatch:s3_request_metrics"] == pytest.approx(16 * 0.3)
    assert lines["cloudwatch:alarms:other"] == pytest.approx(5 * 0.1)  # + the 4xx and 5xx alarms
    assert cost.total(_report(env))[0] == pytest.approx(159.555 + 16 * 0.3 + 2 * 0.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cost_desired_sizes": {"web": 4}}, "aws_asgs.web: need min_size (1) <= desired (4)"),
        ({"cost_desired_sizes": {"db": 1}}, "cost_desired_sizes names groups aws_asgs lacks: db"),
        ({"cost_usage": {"nat_gbs": 1}}, "cost_usage has unknown keys: nat_gbs"),
        ({"cost_usage": {"nat_gb": -1}}, "cost_usage.nat_gb must be a number of at least 0"),
        ({"aws_redis": {"node_type": "cache.t4g.micro"}}, "the inventory lacks nodes"),
    ],
)
def test_bad_inventory_data_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        cost.cost_lines({**SMALL, **change})


def test_a_price_the_file_lacks_is_named() -> None:
    env = copy.deepcopy(SMALL)
    env["aws_asgs"]["web"]["instance_type"] = "t3.huge"
    with pytest.raises(ValueError, match=r"has no price ec2_instance_hour t3\.huge: refresh it"):
        _report(env)


TODAY = datetime.date(2026, 12, 6)


def test_prices_within_the_age_limit_pass() -> None:
    assert cost.price_age(PRICES, TODAY) == 5
    assert cost.check_price_age(PRICES, TODAY, 5, allow_stale=False) is None


def test_stale_prices_are_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError) as refused:
        cost.check_price_age(PRICES, TODAY, 4, allow_stale=False)
    assert str(refused.value) == (
        "the us-east-1 price file is dated 2026-12-01, 5 days ago, older than the 4 days "
        "allowed: refresh it with scripts/cost-report --refresh-prices (needs AWS access), or "
        "pass --allow-stale-prices to report with these prices anyway"
    )


def test_stale_prices_pass_when_told_with_a_warning() -> None:
    warning = cost.check_price_age(PRICES, TODAY, 4, allow_stale=True)
    assert warning == (
        "warning: the us-east-1 price file is dated 2026-12-01, 5 days ago, older than the 4 "
        "days allowed; reporting with them anyway"
    )


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2026-12-31", "dated 2026-12-31, 25 days in the future: check its date"),
        ("last week", "the price file has no valid date"),
        (None, "the price file has no valid date"),
    ],
)
def test_a_bad_price_date_is_refused_even_when_stale_is_allowed(date: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cost.check_price_age({**PRICES, "date": date}, TODAY, 90, allow_stale=True)
