"""The rules behind the CloudWatch alarms provisioning creates (design section 9).

``alert_subscriptions`` builds the alert topic's subscriptions and refuses an environment that
must page someone but names nobody. ``db_connections_alarm`` sizes the database connection
alarm from what the fleet's PgBouncers can open, so that the alarm can fire at all.
``s3_request_alarms`` defines the 4xx and 5xx error-rate alarms on a bucket's request metrics.
No Ansible import: the filter wrappers turn ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

# Environments whose alarms must reach a person: provisioning refuses them without a subscriber.
ALERTED_ENVIRONMENTS = ("prod", "staging")
# What SNS accepts as an e-mail endpoint, loosely: one @, a dot in the domain, no spaces.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_HTTPS = re.compile(r"https://[^\s/]+(/\S*)?")
# The roles whose hosts run PgBouncer (the pgbouncer role's default fleet: api and celery).
POOL_ROLES = ("api", "celery")


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings, got {list(value)!r}")
    return list(value)


def alert_subscriptions(
    emails: Any,
    https_endpoints: Any,
    environment: str,
    required_in: Sequence[str] = ALERTED_ENVIRONMENTS,
) -> list[dict[str, str]]:
    """The alert topic's subscriptions, ``{protocol, endpoint}`` each, e-mails first.

    Raises ValueError for a malformed address or URL, a duplicate, or an environment of
    ``required_in`` with no subscription at all (its alarms would notify nobody).
    """
    mails = _strings(emails, "aws_alert_emails")
    urls = _strings(https_endpoints, "aws_alert_https_endpoints")
    for mail in mails:
        if not _EMAIL.fullmatch(mail):
            raise ValueError(f"aws_alert_emails: {mail!r} is not an e-mail address")
    for url in urls:
        if not _HTTPS.fullmatch(url):
            raise ValueError(f"aws_alert_https_endpoints: {url!r} is not an https:// URL")
    for name, items in (("aws_alert_emails", mails), ("aws_alert_https_endpoints", urls)):
        duplicates = sorted({item for item in items if items.count(item) > 1})
        if duplicates:
            raise ValueError(f"{name} lists {', '.join(duplicates)} more than once")
    if not mails and not urls and environment in required_in:
        raise ValueError(
            f"{environment} needs at least one alert subscription, or every alarm notifies "
            "nobody: set aws_alert_emails (addresses, each must confirm the e-mail SNS sends) "
            f"or aws_alert_https_endpoints (https:// URLs) in inventories/{environment}/"
            "group_vars/all/aws.yml or with -e"
        )
    return [{"protocol": "email", "endpoint": m} for m in mails] + [
        {"protocol": "https", "endpoint": u} for u in urls
    ]


def whole_number(value: Any, name: str, minimum: int = 0) -> int:
    """`value` as an int of at least `minimum`; a bool, float or other text is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def server_connections_per_host(
    databases: Sequence[Mapping[str, Any]], pool_size: Any, reserve_pool: Any
) -> int:
    """Server connections one PgBouncer opens at most: each database's pool plus its reserve
    (its own pool_size and reserve_pool, else the defaults), as the pgbouncer role sizes them."""
    if not databases:
        raise ValueError("pgbouncer_databases is empty: PgBouncer would pool nothing")
    total = 0
    for database in databases:
        name = database.get("name", "?")
        total += whole_number(database.get("pool_size", pool_size), f"pool_size of {name}", 1)
        total += whole_number(database.get("reserve_pool", reserve_pool), f"reserve_pool of {name}")
    return total


def db_connections_alarm(
    asgs: Mapping[str, Mapping[str, Any]],
    max_connections: Any,
    percent: Any,
    per_host: Any,
    headroom: Any = 0,
    roles: Sequence[str] = POOL_ROLES,
) -> dict[str, int]:
    """The connection alarm's threshold: ``percent`` of the server connections every PgBouncer
    of the fleet can open, its groups at their maximum size (``hosts x per_host``).

    The fleet must fit RDS's ``max_connections`` less ``headroom`` (the pgbouncer role's
    preflight refuses it otherwise), and ``percent`` is below 100: the threshold is then under
    what the fleet can open, so the fleet's pools at their fullest always cross it.
    """
    maximum = whole_number(max_connections, "max_connections", 1)
    reserve = whole_number(headroom, "headroom")
    connections = whole_number(per_host, "server connections per host", 1)
    share = float(percent) if not isinstance(percent, bool) else math.nan
    if not 0 < share < 100:
        raise ValueError(f"the alarm's percent must be above 0 and below 100, got {percent!r}")
    missing = [role for role in roles if role not in asgs]
    if missing:
        raise ValueError(f"aws_asgs has no group {', '.join(missing)} (PgBouncer runs there)")
    hosts = sum(
        whole_number(asgs[role].get("max_size"), f"aws_asgs.{role}.max_size", 1) for role in roles
    )
    fleet = hosts * connections
    available = maximum - reserve
    if fleet > available:
        raise ValueError(
            f"the fleet's pools do not fit the database: {hosts} hosts ({' + '.join(roles)} at "
            f"max_size) x {connections} server connections = {fleet}, but max_connections "
            f"{maximum} - headroom {reserve} leaves {available}; raise aws_rds.max_connections "
            "or lower the groups' max_size or the pools"
        )
    # Exact arithmetic: 90 % of 500 is 450, whatever 0.9 * 500 gives in floating point.
    threshold = math.floor(fleet * Fraction(str(percent)) / 100)
    return {
        "hosts": hosts,
        "per_host": connections,
        "fleet": fleet,
        "max_connections": maximum,
        "threshold": threshold,
    }


# The bucket metrics configuration (S3 request metrics) that covers every object; its Id is the
# FilterId dimension of the bucket's request metrics in CloudWatch.
S3_METRICS_FILTER_ID = "EntireBucket"
# The request metrics whose Average is the share of requests answered with that status class
# (each request counts 1 or 0, as AWS documents them).
S3_ERROR_METRICS = {"4xxErrors": "s3_4xx_percent", "5xxErrors": "s3_5xx_percent"}


def _percent(value: Any, name: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        share = Fraction(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not 0 < share < 100:
        raise ValueError(f"{name} must be above 0 and below 100, got {value!r}")
    return share


def s3_request_alarms(
    bucket: str,
    name_prefix: str,
    thresholds: Mapping[str, Any],
    filter_id: str = S3_METRICS_FILTER_ID,
) -> list[dict[str, Any]]:
    """The bucket's error-rate alarms, one per status class (4xx, then 5xx), in the options of
    amazon.aws.cloudwatch_metric_alarm.

    Each watches ``AWS/S3`` ``4xxErrors``/``5xxErrors`` (dimensions BucketName and FilterId:
    the bucket needs the metrics configuration ``filter_id``) with statistic Average, the share
    of requests with that status, per minute; it alarms when the share is above
    ``thresholds[s3_4xx_percent]``/``[s3_5xx_percent]`` % in each of ``s3_errors_minutes``
    minutes. S3 publishes no datum for a minute without requests: missing data is not breaching.
    """
    if not isinstance(bucket, str) or not bucket:
        raise ValueError(f"the bucket must be a name, got {bucket!r}")
    if not isinstance(filter_id, str) or not filter_id:
        raise ValueError(f"the metrics filter id must be a name, got {filter_id!r}")
    if not isinstance(thresholds, Mapping):
        raise ValueError(f"the thresholds must be a mapping (aws_alarms), got {thresholds!r}")
    missing = [k for k in (*S3_ERROR_METRICS.values(), "s3_errors_minutes") if k not in thresholds]
    if missing:
        raise ValueError(f"aws_alarms has no {', '.join(missing)}")
    minutes = whole_number(thresholds["s3_errors_minutes"], "aws_alarms.s3_errors_minutes", 1)
    alarms = []
    for metric, key in S3_ERROR_METRICS.items():
        percent = _percent(thresholds[key], f"aws_alarms.{key}")
        status = metric[:3]
        alarms.append(
            {
                "name": f"{name_prefix}-{bucket}-{status}-rate-high",
                "description": (
                    f"S3 bucket {bucket}: more than {float(percent):g} % of requests answered "
                    f"with {status} in each of {minutes} minutes"
                ),
                "namespace": "AWS/S3",
                "metric_name": metric,
                "dimensions": {"BucketName": bucket, "FilterId": filter_id},
                "statistic": "Average",
                "comparison": "GreaterThanThreshold",
                "threshold": float(percent / 100),
                "period": 60,
                "evaluation_periods": minutes,
                "treat_missing_data": "notBreaching",
            }
        )
    return alarms


def replica_lag_alarm(lag_seconds: Any, minutes: Any, read_max_lag: Any) -> dict[str, int]:
    """The read replica's lag alarm (RDS ReplicaLag, seconds, Maximum over each minute).

    The threshold may not exceed ``read_max_lag``, the lag past which the application stops
    reading from the replica (its fallback to the primary): the alarm must fire by the time
    reads leave the replica, not after, or a replica the app no longer trusts raises nothing.
    """
    threshold = whole_number(lag_seconds, "aws_rds_replica.lag_alarm_seconds", 1)
    periods = whole_number(minutes, "aws_rds_replica.lag_alarm_minutes", 1)
    limit = whole_number(read_max_lag, "platform_db_read_max_lag", 1)
    if threshold > limit:
        raise ValueError(
            f"the replica lag alarm fires above {threshold} s, but the application stops reading"
            f" from the replica above {limit} s (platform_db_read_max_lag): it would fall back"
            " to the primary before anyone hears of it; lower aws_rds_replica.lag_alarm_seconds"
        )
    return {"threshold": threshold, "evaluation_periods": periods, "period": 60}
