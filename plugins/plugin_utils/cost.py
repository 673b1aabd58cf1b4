"""What an environment costs per month, from the inventory data provisioning uses.

``cost_lines`` turns an environment's variables (aws_asgs, aws_rds, aws_redis, network_zones...,
resolved as Ansible would) into line items: what playbooks/provision.yml creates, with the
quantity billed per month at the auto-scaling groups' minimum, desired and maximum sizes.
``price_lines`` multiplies them by a dated price file (data/prices/<region>.yml);
``format_report`` and ``format_diff`` print them. ``check_price_age`` refuses stale prices.
No Ansible import: the entry point is scripts/cost-report; docs/cost.md explains every line.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HOURS_PER_MONTH = 730  # AWS's own monthly figure (24 x 365 / 12)
SIZES = ("min", "desired", "max")
TIERS = ("public", "private", "database", "regional")
# EC2 detailed monitoring (launch templates enable it) bills 7 metrics per instance at the
# custom-metric price (https://aws.amazon.com/cloudwatch/pricing/, example 1).
DETAILED_MONITORING_METRICS = 7
# S3 request metrics of one metrics configuration (AllRequests, Get/Put/Delete/Head/Post/List/
# SelectRequests, BytesDownloaded/Uploaded, SelectBytesScanned/Returned, 4xx/5xxErrors,
# FirstByteLatency, TotalRequestLatency), billed as custom metrics while they have data.
S3_REQUEST_METRICS = 16
# RDS PostgreSQL gp3: below 400 GiB 3,000 IOPS and 125 MiB/s are included, from 400 GiB 12,000
# and 500 (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html#gp3-storage).
RDS_GP3_LARGE_GIB = 400
RDS_GP3_BASELINE = {False: (3000, 125), True: (12000, 500)}
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class Line:
    """One billed thing: its quantity per month at min, desired and max size, and its price."""

    key: str  # stable identity across revisions, for the diff
    service: str
    tier: str
    what: str  # for people; may change with the data (instance type, count)
    source: str  # the inventory variable it comes from
    quantity: Triple
    unit: str
    price: tuple[str, ...]  # path into the price file


@dataclass(frozen=True)
class PricedLine:
    line: Line
    unit_price: float
    monthly: Triple


def _same(value: float) -> Triple:
    return (value, value, value)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number of at least 0, got {value!r}")
    return float(value)


def group_sizes(asgs: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Triple]:
    """Each auto-scaling group's (min, desired, max). Provisioning starts a group at min_size;
    cost_desired_sizes says where the scaling policies are expected to hold it."""
    unknown = sorted(set(desired) - set(asgs))
    if unknown:
        raise ValueError(f"cost_desired_sizes names groups aws_asgs lacks: {', '.join(unknown)}")
    sizes = {}
    for name, spec in asgs.items():
        low = _int(spec.get("min_size"), f"aws_asgs.{name}.min_size")
        high = _int(spec.get("max_size"), f"aws_asgs.{name}.max_size")
        mid = _int(desired.get(name, low), f"cost_desired_sizes.{name}")
        if not low <= mid <= high:
            raise ValueError(
                f"aws_asgs.{name}: need min_size ({low}) <= desired ({mid}) <= max_size ({high})"
            )
        sizes[name] = (float(low), float(mid), float(high))
    return sizes


def _scale(triple: Triple, factor: float) -> Triple:
    return (triple[0] * factor, triple[1] * factor, triple[2] * factor)


def _compute_lines(env: Mapping[str, Any]) -> list[Line]:
    asgs = env["aws_asgs"]
    sizes = group_sizes(asgs, env.get("cost_desired_sizes") or {})
    eips = [address["role"] for address in env.get("aws_elastic_ips") or []]
    lines = []
    for name, spec in asgs.items():
        count, tier, source = sizes[name], spec["tier"], f"aws_asgs.{name}"
        itype, volume = spec["instance_type"], _int(spec["volume_size"], f"{source}.volume_size")
        lines += [
            Line(f"ec2:{name}", "EC2", tier, f"{name} instances, {itype}", source,
                 _scale(count, HOURS_PER_MONTH), "instance-hours", ("ec2_instance_hour", itype)),
            Line(f"ebs:{name}", "EBS", tier, f"{name} root volumes, gp3 {volume} GB", source,
                 _scale(count, volume), "GB-months", ("ebs_gb_month", "gp3")),
            Line(f"cloudwatch:detailed:{name}", "CloudWatch", tier,
                 f"{name} detailed monitoring, {DETAILED_MONITORING_METRICS} metrics an instance",
                 source, _scale(count, DETAILED_MONITORING_METRICS), "metrics",
                 ("cloudwatch_metric_month",)),
        ]
        fixed = eips.count(name)
        if tier == "public" or fixed:
            # Instances in the public subnets get an address at launch; an Elastic IP
            # associated with one replaces it (AWS bills every public IPv4 address).
            addresses = tuple(max(n, fixed) if tier == "public" else fixed for n in count)
            lines.append(Line(
                f"ipv4:{name}", "VPC", "public",
                f"{name} public IPv4 addresses (Elastic IPs: {fixed})",
                f"{source}, aws_elastic_ips", _scale(addresses, HOURS_PER_MONTH),  # type: ignore[arg-type]
                "address-hours", ("public_ipv4_hour",)))
    return lines


def _network_lines(env: Mapping[str, Any], usage: Mapping[str, Any]) -> list[Line]:
    zones = len(env["network_zones"])
    return [
        Line("vpc:nat", "VPC", "public", f"NAT gateways, one per zone ({zones})", "network_zones",
             _same(zones * HOURS_PER_MONTH), "gateway-hours", ("nat_gateway_hour",)),
        Line("ipv4:nat", "VPC", "public", f"NAT gateways' Elastic IPs ({zones})", "network_zones",
             _same(zones * HOURS_PER_MONTH), "address-hours", ("public_ipv4_hour",)),
        Line("vpc:nat-data", "VPC", "public", "data through the NAT gateways",
             "cost_usage.nat_gb", _same(_number(usage.get("nat_gb", 0), "cost_usage.nat_gb")),
             "GB", ("nat_gateway_gb",)),
        Line("transfer:out", "Data transfer", "public", "data out to the internet",
             "cost_usage.internet_out_gb",
             _same(_number(usage.get("internet_out_gb", 0), "cost_usage.internet_out_gb")),
             "GB", ("data_transfer_out_gb",)),
    ]


def _database_lines(env: Mapping[str, Any], usage: Mapping[str, Any]) -> list[Line]:
    rds = env["aws_rds"]
    deployment = "multi_az" if rds.get("multi_az") else "single_az"
    copies = "Multi-AZ" if deployment == "multi_az" else "Single-AZ"
    cls, storage = rds["instance_class"], rds.get("storage_type", "gp2")
    size = _int(rds["allocated_storage"], "aws_rds.allocated_storage")
    lines = [
        Line("rds:instance", "RDS", "database", f"PostgreSQL {cls}, {copies}",
             "aws_rds.instance_class, aws_rds.multi_az", _same(HOURS_PER_MONTH),
             "instance-hours", ("rds_instance_hour", deployment, cls)),
        Line("rds:storage", "RDS", "database", f"PostgreSQL storage, {storage} {size} GB, {copies}",
             "aws_rds.allocated_storage, aws_rds.storage_type", _same(size), "GB-months",
             ("rds_storage_gb_month", deployment, storage)),
    ]
    if storage == "gp3":
        base_iops, base_mibps = RDS_GP3_BASELINE[size >= RDS_GP3_LARGE_GIB]
        iops = _int(rds.get("iops", base_iops), "aws_rds.iops")
        mibps = _int(rds.get("storage_throughput", base_mibps), "aws_rds.storage_throughput")
        lines += [
            Line("rds:iops", "RDS", "database", f"gp3 IOPS above the {base_iops} included",
                 "aws_rds.iops", _same(max(0, iops - base_iops)), "IOPS-months",
                 ("rds_gp3_iops_month", deployment)),
            Line("rds:throughput", "RDS", "database",
                 f"gp3 throughput above the {base_mibps} MiB/s included",
                 "aws_rds.storage_throughput", _same(max(0, mibps - base_mibps)), "MiBps-months",
                 ("rds_gp3_throughput_month", deployment)),
        ]
    lines += _replica_lines(env, cls, storage, size)
    backups = _number(usage.get("db_backup_gb", 0), "cost_usage.db_backup_gb")
    lines.append(Line(
        "rds:backup", "RDS", "database",
        f"backups beyond the free {size} GB (the storage size), of {backups:g} GB",
        "cost_usage.db_backup_gb, aws_rds.allocated_storage", _same(max(0.0, backups - size)),
        "GB-months", ("rds_backup_gb_month",)))
    return lines


def _replica_enabled(env: Mapping[str, Any]) -> bool:
    return bool((env.get("aws_rds_replica") or {}).get("enabled"))


def _replica_lines(env: Mapping[str, Any], primary_class: str, storage: str,
                   size: int) -> list[Line]:
    """The read replica (design section 11): a Single-AZ instance with the primary's storage
    (same size, type and gp3 performance), billed as a Single-AZ instance of its own class.
    Its backups are not billed: a replica keeps none."""
    if not _replica_enabled(env):
        return []
    rds = env["aws_rds"]
    cls = env["aws_rds_replica"].get("instance_class") or primary_class
    lines = [
        Line("rds:replica", "RDS", "database", f"PostgreSQL read replica {cls}, Single-AZ",
             "aws_rds_replica.enabled, aws_rds_replica.instance_class", _same(HOURS_PER_MONTH),
             "instance-hours", ("rds_instance_hour", "single_az", cls)),
        Line("rds:replica-storage", "RDS", "database",
             f"read replica storage, {storage} {size} GB (the primary's)",
             "aws_rds_replica.enabled, aws_rds.allocated_storage", _same(size), "GB-months",
             ("rds_storage_gb_month", "single_az", storage)),
    ]
    if storage == "gp3":
        base_iops, base_mibps = RDS_GP3_BASELINE[size >= RDS_GP3_LARGE_GIB]
        iops = _int(rds.get("iops", base_iops), "aws_rds.iops")
        mibps = _int(rds.get("storage_throughput", base_mibps), "aws_rds.storage_throughput")
        lines += [
            Line("rds:replica-iops", "RDS", "database",
                 f"read replica gp3 IOPS above the {base_iops} included", "aws_rds.iops",
                 _same(max(0, iops - base_iops)), "IOPS-months",
                 ("rds_gp3_iops_month", "single_az")),
            Line("rds:replica-throughput", "RDS", "database",
                 f"read replica gp3 throughput above the {base_mibps} MiB/s included",
                 "aws_rds.storage_throughput", _same(max(0, mibps - base_mibps)),
                 "MiBps-months", ("rds_gp3_throughput_month", "single_az")),
        ]
    return lines


def _cache_lines(env: Mapping[str, Any], usage: Mapping[str, Any]) -> list[Line]:
    redis = env["aws_redis"]
    nodes = _int(redis["nodes"], "aws_redis.nodes")
    kept = _int(redis.get("snapshot_retention_days", 0), "aws_redis.snapshot_retention_days")
    data = _number(usage.get("redis_data_gb", 0), "cost_usage.redis_data_gb")
    return [
        Line("elasticache:nodes", "ElastiCache", "private",
             f"Redis nodes, {nodes} x {redis['node_type']}", "aws_redis.node_type, aws_redis.nodes",
             _same(nodes * HOURS_PER_MONTH), "node-hours",
             ("elasticache_node_hour", redis["node_type"])),
        # One snapshot per cluster is free; the others of the retention window are billed.
        Line("elasticache:backup", "ElastiCache", "private",
             f"Redis snapshots beyond the free one, {max(0, kept - 1)} x {data:g} GB",
             "aws_redis.snapshot_retention_days, cost_usage.redis_data_gb",
             _same(max(0, kept - 1) * data), "GB-months", ("elasticache_backup_gb_month",)),
    ]


def _storage_lines(env: Mapping[str, Any], usage: Mapping[str, Any]) -> list[Line]:
    stored = _number(usage.get("documents_gb", 0), "cost_usage.documents_gb")
    glacier_after = _int(env["aws_s3_glacier_transition_days"], "aws_s3_glacier_transition_days")
    expire_after = _int(env["aws_s3_expiration_days"], "aws_s3_expiration_days")
    # Documents arrive at a steady rate and live expire_after days: the share younger than the
    # transition is in S3 Standard, the rest in Glacier.
    standard = stored * min(1.0, glacier_after / expire_after) if expire_after else stored
    source = "cost_usage.documents_gb, aws_s3_glacier_transition_days, aws_s3_expiration_days"
    puts = _number(usage.get("s3_put_requests", 0), "cost_usage.s3_put_requests")
    gets = _number(usage.get("s3_get_requests", 0), "cost_usage.s3_get_requests")
    return [
        Line("s3:standard", "S3", "regional",
             f"documents in S3 Standard (first {glacier_after} of {expire_after} days)", source,
             _same(standard), "GB-months", ("s3_standard_gb_month",)),
        Line("s3:glacier", "S3", "regional", "documents in Glacier Flexible Retrieval", source,
             _same(stored - standard), "GB-months", ("s3_glacier_gb_month",)),
        Line("s3:put", "S3", "regional", "PUT, COPY, POST and LIST requests",
             "cost_usage.s3_put_requests", _same(puts / 1000), "thousand requests",
             ("s3_put_per_1000",)),
        Line("s3:get", "S3", "regional", "GET requests", "cost_usage.s3_get_requests",
             _same(gets / 1000), "thousand requests", ("s3_get_per_1000",)),
    ]


def _monitoring_lines(env: Mapping[str, Any], usage: Mapping[str, Any]) -> list[Line]:
    asgs = env["aws_asgs"]
    scaling = sum(1 for spec in asgs.values() if spec.get("scaling"))
    nodes = _int(env["aws_redis"]["nodes"], "aws_redis.nodes")
    retention = _int(env["aws_log_retention_days"], "aws_log_retention_days")
    ingested = _number(usage.get("log_gb", 0), "cost_usage.log_gb")
    alarm = ("cloudwatch_alarm_month",)
    # The document bucket's request metrics (storage.yml) and their two alarms (monitoring.yml).
    s3_metrics = bool(env.get("aws_s3_request_metrics_id"))
    lines = [
        Line("cloudwatch:alarms:scaling", "CloudWatch", "regional",
             f"scaling alarms, out and in for {scaling} groups", "aws_asgs.*.scaling",
             _same(2 * scaling), "alarms", alarm),
        Line("cloudwatch:alarms:memory", "CloudWatch", "regional",
             f"memory alarms, one per group ({len(asgs)})", "aws_asgs", _same(len(asgs)),
             "alarms", alarm),
        Line("cloudwatch:alarms:redis", "CloudWatch", "regional",
             f"Redis memory alarms, one per node ({nodes})", "aws_redis.nodes", _same(nodes),
             "alarms", alarm),
        Line("cloudwatch:alarms:other", "CloudWatch", "regional",
             "API error rate, database connections and site health alarms"
             + (", the document bucket's 4xx and 5xx rates" if s3_metrics else ""),
             "playbooks/provision/monitoring.yml, dns.yml", _same(3 + 2 * s3_metrics), "alarms",
             alarm),
    ]
    if _replica_enabled(env):
        lines.append(Line("cloudwatch:alarms:replica", "CloudWatch", "regional",
                          "read replica lag alarm", "aws_rds_replica.enabled", _same(1),
                          "alarms", alarm))
    lines += [
        Line("logs:ingest", "CloudWatch", "regional",
             f"logs into {len(env.get('aws_log_groups') or [])} log groups and RDS exports",
             "cost_usage.log_gb", _same(ingested), "GB", ("logs_ingest_gb",)),
        Line("logs:storage", "CloudWatch", "regional",
             f"logs stored for {retention} days (counted uncompressed)",
             "cost_usage.log_gb, aws_log_retention_days", _same(ingested * retention / 30),
             "GB-months", ("logs_storage_gb_month",)),
    ]
    if s3_metrics:
        # Request metrics are billed as custom metrics (S3's pricing page): at most one per
        # request metric of the configuration.
        lines.append(
            Line("cloudwatch:s3_request_metrics", "CloudWatch", "regional",
                 f"S3 request metrics of the document bucket (at most {S3_REQUEST_METRICS})",
                 "aws_s3_request_metrics_id", _same(S3_REQUEST_METRICS), "metrics",
                 ("cloudwatch_metric_month",)))
    if env.get("prometheus_cloudwatch_enabled"):
        # prometheus role: the queue depth, the API error rate and memory per group, published
        # by every monitoring host each interval in one PutMetricData call.
        interval = _int(env.get("prometheus_cloudwatch_interval", 60),
                        "prometheus_cloudwatch_interval")
        hosts = group_sizes(asgs, env.get("cost_desired_sizes") or {})["monitoring"]
        lines += [
            Line("cloudwatch:custom", "CloudWatch", "regional",
                 f"custom metrics published from Prometheus ({2 + len(asgs)})",
                 "prometheus_cloudwatch_enabled, aws_asgs", _same(2 + len(asgs)), "metrics",
                 ("cloudwatch_metric_month",)),
            Line("cloudwatch:put", "CloudWatch", "regional",
                 f"PutMetricData calls, one per monitoring host every {interval} s",
                 "prometheus_cloudwatch_interval, aws_asgs.monitoring",
                 _scale(hosts, SECONDS_PER_MONTH / interval / 1000),
                 "thousand requests", ("cloudwatch_requests_per_1000",)),
        ]
    return lines


def _regional_lines(env: Mapping[str, Any], usage: Mapping[str, Any]) -> list[Line]:
    check = env.get("aws_health_check") or {}
    # HTTPS is an optional feature of a Route 53 health check; a 10 s interval is another.
    features = 1 + (1 if _int(check.get("interval", 30), "aws_health_check.interval") == 10 else 0)
    secrets = len(env.get("platform_secrets") or {})
    site_secrets = len(env.get("platform_site_secrets") or {})
    queries = _number(usage.get("dns_queries_millions", 0), "cost_usage.dns_queries_millions")
    return [
        Line("route53:zone", "Route 53", "regional", f"hosted zone {env['platform_domain']}",
             "platform_domain", _same(1), "zones", ("route53_zone_month",)),
        Line("route53:queries", "Route 53", "regional", "DNS queries",
             "cost_usage.dns_queries_millions", _same(queries), "million queries",
             ("route53_queries_per_million",)),
        Line("route53:health", "Route 53", "regional", "site health check (AWS endpoint)",
             "aws_health_check", _same(1), "health checks", ("route53_health_check_month",)),
        Line("route53:health-features", "Route 53", "regional",
             f"health check optional features ({features}: HTTPS"
             + (", fast interval)" if features > 1 else ")"),
             "aws_health_check", _same(features), "features",
             ("route53_health_check_feature_month",)),
        Line("kms:key", "KMS", "regional", "platform key (aws_kms_alias)", "aws_kms_alias",
             _same(1), "keys", ("kms_key_month",)),
        Line("secrets:platform", "Secrets Manager", "regional",
             f"provisioning's secrets ({secrets})", "platform_secrets", _same(secrets),
             "secrets", ("secretsmanager_secret_month",)),
        Line("secrets:site", "Secrets Manager", "regional",
             f"site secrets operators create once ({site_secrets})", "platform_site_secrets",
             _same(site_secrets), "secrets", ("secretsmanager_secret_month",)),
    ]


def cost_lines(env: Mapping[str, Any]) -> list[Line]:
    """Every line item of an environment, in report order. ``env`` holds the inventory's
    variables, templated; cost_usage (usage assumptions) and cost_desired_sizes are optional."""
    usage = env.get("cost_usage") or {}
    unknown = sorted(set(usage) - USAGE_KEYS)
    if unknown:
        raise ValueError(f"cost_usage has unknown keys: {', '.join(unknown)}")
    try:
        return (
            _compute_lines(env)
            + _network_lines(env, usage)
            + _database_lines(env, usage)
            + _cache_lines(env, usage)
            + _storage_lines(env, usage)
            + _monitoring_lines(env, usage)
            + _regional_lines(env, usage)
        )
    except KeyError as missing:
        raise ValueError(f"the inventory lacks {missing.args[0]}") from None


USAGE_KEYS = frozenset({
    "nat_gb", "internet_out_gb", "db_backup_gb", "redis_data_gb", "documents_gb",
    "s3_put_requests", "s3_get_requests", "log_gb", "dns_queries_millions",
})


def unit_price(prices: Mapping[str, Any], path: Sequence[str]) -> float:
    """The price at ``path`` under a price file's ``prices``, or a ValueError naming it."""
    node: Any = prices.get("prices")
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            raise ValueError(
                f"the price file for {prices.get('region', '?')} (dated {prices.get('date', '?')})"
                f" has no price {' '.join(path)}: refresh it (scripts/cost-report --refresh-prices)"
                " or add the price with its source"
            )
        node = node[step]
    return float(_number(node, " ".join(path)))


def price_lines(lines: Iterable[Line], prices: Mapping[str, Any]) -> list[PricedLine]:
    priced = []
    for line in lines:
        each = unit_price(prices, line.price)
        priced.append(PricedLine(line, each, _scale(line.quantity, each)))
    return priced


def price_age(prices: Mapping[str, Any], today: datetime.date) -> int:
    """Days since the price file's date."""
    stamp = prices.get("date")
    if isinstance(stamp, str):
        try:
            stamp = datetime.date.fromisoformat(stamp)
        except ValueError:
            stamp = None
    if not isinstance(stamp, datetime.date):
        raise ValueError(f"the price file has no valid date (YYYY-MM-DD): {prices.get('date')!r}")
    return (today - stamp).days


def check_price_age(
    prices: Mapping[str, Any], today: datetime.date, max_age_days: int, allow_stale: bool
) -> str | None:
    """Refuse prices older than ``max_age_days`` (ValueError) unless ``allow_stale``; then the
    warning to print. Prices dated in the future are refused always."""
    age = price_age(prices, today)
    where = f"the {prices.get('region', '?')} price file is dated {prices['date']}"
    if age < 0:
        raise ValueError(f"{where}, {-age} days in the future: check its date")
    if age <= max_age_days:
        return None
    message = (
        f"{where}, {age} days ago, older than the {max_age_days} days allowed: refresh it with "
        "scripts/cost-report --refresh-prices (needs AWS access), or pass --allow-stale-prices"
        " to report with these prices anyway"
    )
    if not allow_stale:
        raise ValueError(message)
    return "warning: " + message.split(": refresh", 1)[0] + "; reporting with them anyway"


def _total(priced: Iterable[PricedLine]) -> Triple:
    sums = [0.0, 0.0, 0.0]
    for item in priced:
        for index in range(3):
            sums[index] += item.monthly[index]
    return (sums[0], sums[1], sums[2])


def summarize(priced: Sequence[PricedLine], by: str) -> list[tuple[str, Triple]]:
    """Totals per service or per tier, in first-appearance (report) order."""
    if by not in ("service", "tier"):
        raise ValueError(f"summarize by service or tier, not {by!r}")
    groups: dict[str, list[PricedLine]] = {}
    for item in priced:
        groups.setdefault(getattr(item.line, by), []).append(item)
    return [(name, _total(items)) for name, items in groups.items()]


def _money(value: float, signed: bool = False) -> str:
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _row(label: str, values: Triple, width: int, signed: bool = False) -> str:
    return f"{label:<{width}}" + "".join(f"{_money(v, signed):>13}" for v in values)


def format_report(
    title: str, priced: Sequence[PricedLine], sizes: Mapping[str, Triple], prices_note: str,
    usage: Mapping[str, Any],
) -> str:
    """The report: every line, then by service, by tier and the total, in USD per month."""
    width = 88
    head = f"{'':<{width}}" + "".join(f"{size:>13}" for size in SIZES)
    out = [title, prices_note, "Auto-scaling groups (min/desired/max): " + ", ".join(
        f"{name} {'/'.join(_quantity(n) for n in size)}" for name, size in sizes.items())]
    out += ["", "USD per month" + head[13:]]
    for item in priced:
        line = item.line
        quantities = "/".join(_quantity(q) for q in line.quantity) if len(
            set(line.quantity)) > 1 else _quantity(line.quantity[0])
        label = f"{line.service:<15} {line.tier:<9} {line.what}"
        out.append(_row(label[:width], item.monthly, width))
        out.append(f"{'':<26}  {quantities} {line.unit} x {item.unit_price:g}  [{line.source}]")
    for by in ("service", "tier"):
        out += ["", f"By {by}" + head[len(by) + 3:]]
        out += [_row(name, total, width) for name, total in summarize(priced, by)]
    out += ["", _row("Total", _total(priced), width)]
    assumed = ", ".join(f"{key} {value:,}" for key, value in sorted(usage.items()))
    out += ["", f"Usage assumptions (cost_usage): {assumed or 'none: usage lines are 0'}"]
    return "\n".join(out) + "\n"


def diff_lines(
    before: Sequence[PricedLine], after: Sequence[PricedLine]
) -> list[tuple[PricedLine | None, PricedLine | None, Triple]]:
    """The lines whose cost or description differ, matched by key, with the change per size."""
    old = {item.line.key: item for item in before}
    new = {item.line.key: item for item in after}
    keys = list(old) + [key for key in new if key not in old]
    changes = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        was = a.monthly if a else (0.0, 0.0, 0.0)
        now = b.monthly if b else (0.0, 0.0, 0.0)
        delta = (now[0] - was[0], now[1] - was[1], now[2] - was[2])
        same_text = a and b and (a.line.what, a.line.quantity, a.unit_price) == (
            b.line.what, b.line.quantity, b.unit_price)
        if same_text and not any(abs(d) > 1e-9 for d in delta):
            continue
        changes.append((a, b, delta))
    return changes


def _amount(item: PricedLine) -> str:
    return f"{'/'.join(_quantity(q) for q in item.line.quantity)} x {item.unit_price:g}"


def format_diff(
    title: str, before: Sequence[PricedLine], after: Sequence[PricedLine]
) -> str:
    """What a change costs, line by line: only the lines that differ, then the totals."""
    width = 88
    out = [title, "", "USD per month, change" + f"{'':<{width - 21}}" + "".join(
        f"{size:>13}" for size in SIZES)]
    changes = diff_lines(before, after)
    for a, b, delta in changes:
        line = (b or a).line  # type: ignore[union-attr]
        out.append(_row(f"{line.service:<15} {line.tier:<9} {line.what}"[:width], delta, width,
                        signed=True))
        was, now = (_amount(side) if side else "none" for side in (a, b))
        detail = f"was {a.line.what}: " if a and b and a.line.what != b.line.what else ""
        out.append(f"{'':<26}  {detail}{was} -> {now} {line.unit}  [{line.source}]")
    if not changes:
        out.append("no line changes")
    old_total, new_total = _total(before), _total(after)
    out += ["", _row("Total before", old_total, width), _row("Total after", new_total, width),
            _row("Change", tuple(n - o for o, n in zip(old_total, new_total, strict=True)),  # type: ignore[arg-type]
                 width, signed=True)]
    return "\n".join(out) + "\n"


def total(priced: Iterable[PricedLine]) -> Triple:
    """The monthly total at min, desired and max size."""
    return _total(priced)
