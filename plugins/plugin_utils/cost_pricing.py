"""Read the prices the cost report needs from the AWS Price List Query API.

``queries`` lists one GetProducts request per price of data/prices/<region>.yml (on-demand,
Linux, shared tenancy); ``price_from_products`` reads the on-demand price out of GetProducts'
PriceList answer; ``refresh`` runs every query through a boto3 ``pricing`` client it is given
and returns a price file. No boto3 import here: scripts/cost-report makes the client, and the
tests hand in a stub. Field names: https://docs.aws.amazon.com/aws-cost-management/latest/
APIReference/API_pricing_GetProducts.html and the service's DescribeServices attributes.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

API_SOURCE = (
    "AWS Price List Query API, pricing:GetProducts "
    "(https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/"
    "API_pricing_GetProducts.html)"
)
DEPLOYMENTS = {"single_az": "Single-AZ", "multi_az": "Multi-AZ"}
RDS_VOLUMES = {"gp2": "General Purpose", "gp3": "General Purpose-GP3"}


@dataclass(frozen=True)
class Query:
    """One price: where it goes in the file, and the GetProducts request that finds it."""

    path: tuple[str, ...]
    service: str
    filters: Mapping[str, str]
    unit: str  # the price dimension's unit (Hrs, GB-Mo, ...)
    usagetype_suffix: str = ""  # narrows products the filters cannot tell apart
    scale: float = 1.0  # the file's unit per API unit (per 1,000 requests: 1000)

    def request(self) -> dict[str, Any]:
        """GetProducts' arguments."""
        return {
            "ServiceCode": self.service,
            "Filters": [
                {"Type": "TERM_MATCH", "Field": name, "Value": value}
                for name, value in sorted(self.filters.items())
            ],
            "FormatVersion": "aws_v1",
        }


def queries(region: str, wanted: Mapping[str, Iterable[str]]) -> list[Query]:
    """Every query of a region's price file. ``wanted`` names the ec2, rds and elasticache
    instance types to price (the inventories' and the current file's)."""
    here = {"regionCode": region}
    ec2 = {**here, "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
           "capacitystatus": "Used", "licenseModel": "No License required"}
    found = [
        Query(("ec2_instance_hour", kind), "AmazonEC2", {**ec2, "instanceType": kind}, "Hrs")
        for kind in sorted(set(wanted.get("ec2", ())))
    ]
    found += [
        Query(("ebs_gb_month", volume), "AmazonEC2",
              {**here, "productFamily": "Storage", "volumeApiName": volume}, "GB-Mo")
        for volume in ("gp2", "gp3")
    ]
    for key, deployment in DEPLOYMENTS.items():
        rds = {**here, "databaseEngine": "PostgreSQL", "deploymentOption": deployment}
        found += [
            Query(("rds_instance_hour", key, kind), "AmazonRDS", {**rds, "instanceType": kind},
                  "Hrs")
            for kind in sorted(set(wanted.get("rds", ())))
        ]
        found += [
            Query(("rds_storage_gb_month", key, volume), "AmazonRDS",
                  {**rds, "productFamily": "Database Storage", "volumeType": label}, "GB-Mo")
            for volume, label in RDS_VOLUMES.items()
        ]
        found += [
            Query(("rds_gp3_iops_month", key), "AmazonRDS",
                  {**rds, "productFamily": "Provisioned IOPS"}, "IOPS-Mo", "GP3-PIOPS"),
            Query(("rds_gp3_throughput_month", key), "AmazonRDS",
                  {**rds, "productFamily": "Provisioned Throughput"}, "MiBps-Mo"),
        ]
    found += [
        Query(("rds_backup_gb_month",), "AmazonRDS", {**here, "productFamily": "Storage Snapshot"},
              "GB-Mo", "ChargedBackupUsage"),
        *[
            Query(("elasticache_node_hour", kind), "AmazonElastiCache",
                  {**here, "instanceType": kind, "cacheEngine": "Redis"}, "Hrs")
            for kind in sorted(set(wanted.get("elasticache", ())))
        ],
        Query(("elasticache_backup_gb_month",), "AmazonElastiCache",
              {**here, "productFamily": "Storage Snapshot"}, "GB-Mo"),
        Query(("nat_gateway_hour",), "AmazonEC2", {**here, "productFamily": "NAT Gateway"}, "Hrs",
              "NatGateway-Hours"),
        Query(("nat_gateway_gb",), "AmazonEC2", {**here, "productFamily": "NAT Gateway"}, "GB",
              "NatGateway-Bytes"),
        Query(("public_ipv4_hour",), "AmazonVPC", here, "Hrs", "PublicIPv4:InUseAddress"),
        Query(("data_transfer_out_gb",), "AWSDataTransfer",
              {"fromRegionCode": region, "transferType": "AWS Outbound"}, "GB"),
        Query(("s3_standard_gb_month",), "AmazonS3",
              {**here, "productFamily": "Storage", "volumeType": "Standard"}, "GB-Mo"),
        Query(("s3_glacier_gb_month",), "AmazonS3",
              {**here, "productFamily": "Storage", "volumeType": "Amazon Glacier"}, "GB-Mo"),
        Query(("s3_put_per_1000",), "AmazonS3",
              {**here, "productFamily": "API Request", "group": "S3-API-Tier1"}, "Requests",
              scale=1000),
        Query(("s3_get_per_1000",), "AmazonS3",
              {**here, "productFamily": "API Request", "group": "S3-API-Tier2"}, "Requests",
              scale=1000),
        Query(("cloudwatch_alarm_month",), "AmazonCloudWatch",
              {**here, "productFamily": "Alarm"}, "Alarms", "CW:AlarmMonitorUsage"),
        Query(("cloudwatch_metric_month",), "AmazonCloudWatch",
              {**here, "productFamily": "Metric"}, "Metrics", "CW:MetricMonitorUsage"),
        Query(("cloudwatch_requests_per_1000",), "AmazonCloudWatch",
              {**here, "productFamily": "API Request"}, "Requests", "CW:Requests", scale=1000),
        Query(("logs_ingest_gb",), "AmazonCloudWatch",
              {**here, "productFamily": "Data Payload"}, "GB", "DataProcessing-Bytes"),
        Query(("logs_storage_gb_month",), "AmazonCloudWatch",
              {**here, "productFamily": "Storage Snapshot"}, "GB-Mo", "TimedStorage-ByteHrs"),
        # Route 53 is global: its products carry no region.
        Query(("route53_zone_month",), "AmazonRoute53", {"productFamily": "DNS Zone"},
              "HostedZone"),
        Query(("route53_queries_per_million",), "AmazonRoute53", {"productFamily": "DNS Query"},
              "Queries", "DNS-Queries", scale=1_000_000),
        Query(("route53_health_check_month",), "AmazonRoute53",
              {"productFamily": "DNS Health Check"}, "Health-Check", "Health-Check-AWS"),
        Query(("route53_health_check_feature_month",), "AmazonRoute53",
              {"productFamily": "DNS Health Check"}, "Health-Check", "Health-Check-Option-AWS"),
        Query(("kms_key_month",), "awskms", {**here, "productFamily": "Encryption Key"}, "Keys",
              "KMS-Keys"),
        Query(("secretsmanager_secret_month",), "AWSSecretsManager",
              {**here, "productFamily": "Secret"}, "Secrets"),
    ]
    return found


def _on_demand_dimensions(product: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    terms = product.get("terms", {}).get("OnDemand", {})
    return [dim for term in terms.values() for dim in term.get("priceDimensions", {}).values()]


def _first_paid(dimensions: Sequence[Mapping[str, Any]]) -> float | None:
    """The price of the lowest paid tier: tiers below it are the account's free allowance."""
    paid = sorted(
        (float(dim.get("beginRange", 0) or 0), float(dim["pricePerUnit"]["USD"]))
        for dim in dimensions
        if float(dim.get("pricePerUnit", {}).get("USD", 0) or 0) > 0
    )
    return paid[0][1] if paid else None


def price_from_products(query: Query, price_list: Iterable[str]) -> float:
    """The on-demand price of ``query`` in GetProducts' PriceList (JSON strings), scaled to the
    file's unit. Fails when no product matches or matching products disagree on the price."""
    found = set()
    for entry in price_list:
        product = json.loads(entry) if isinstance(entry, str) else entry
        usagetype = product.get("product", {}).get("attributes", {}).get("usagetype", "")
        if query.usagetype_suffix and not usagetype.endswith(query.usagetype_suffix):
            continue
        dimensions = [dim for dim in _on_demand_dimensions(product)
                      if dim.get("unit", "").lower() == query.unit.lower()]
        price = _first_paid(dimensions)
        if price is not None:
            found.add(round(price * query.scale, 10))
    where = f"{query.service} {dict(query.filters)}"
    if not found:
        raise ValueError(f"no on-demand price in {query.unit} for {' '.join(query.path)} ({where})")
    if len(found) > 1:
        raise ValueError(
            f"{len(found)} different prices for {' '.join(query.path)} ({where}): "
            f"{sorted(found)}; narrow the query"
        )
    return found.pop()


def _put(tree: dict[str, Any], path: Sequence[str], value: float) -> None:
    for step in path[:-1]:
        tree = tree.setdefault(step, {})
    tree[path[-1]] = value


def refresh(
    client: Any, region: str, wanted: Mapping[str, Iterable[str]], today: datetime.date
) -> dict[str, Any]:
    """A new price file for ``region`` from a boto3 ``pricing`` client (GetProducts, paged)."""
    prices: dict[str, Any] = {}
    answers: dict[str, list[str]] = {}  # queries told apart by usage type share one request
    paginator = client.get_paginator("get_products")
    for query in queries(region, wanted):
        request = json.dumps(query.request(), sort_keys=True)
        if request not in answers:
            pages = paginator.paginate(**query.request())
            answers[request] = [entry for page in pages for entry in page.get("PriceList", [])]
        _put(prices, query.path, price_from_products(query, answers[request]))
    return {
        "region": region,
        "date": today.isoformat(),
        "currency": "USD",
        "source": API_SOURCE,
        "method": "scripts/cost-report --refresh-prices: on-demand, Linux, shared tenancy, "
        "PostgreSQL, Redis; the lowest paid tier of tiered prices",
        "prices": prices,
    }


def wanted_types(price_files: Iterable[Mapping[str, Any]],
                 environments: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The instance types to price: every one a current price file or an inventory names."""
    wanted: dict[str, set[str]] = {"ec2": set(), "rds": set(), "elasticache": set()}
    for data in price_files:
        prices = data.get("prices", {})
        wanted["ec2"].update(prices.get("ec2_instance_hour", {}))
        for classes in prices.get("rds_instance_hour", {}).values():
            wanted["rds"].update(classes)
        wanted["elasticache"].update(prices.get("elasticache_node_hour", {}))
    for env in environments:
        wanted["ec2"].update(spec["instance_type"] for spec in env["aws_asgs"].values())
        wanted["rds"].add(env["aws_rds"]["instance_class"])
        replica = env.get("aws_rds_replica") or {}
        if replica.get("enabled"):
            wanted["rds"].add(replica.get("instance_class") or env["aws_rds"]["instance_class"])
        wanted["elasticache"].add(env["aws_redis"]["node_type"])
    return {kind: sorted(types) for kind, types in wanted.items()}
