"""Reading prices from the AWS Price List API: constructed GetProducts answers, no network.

moto (5.2, as pinned) has no Price List API, so the answers are built here in GetProducts'
format (each PriceList entry a JSON string of product and terms) and handed to the code through
a stand-in client, or through botocore's Stubber on a real boto3 client.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.ideation.platform.plugins.plugin_utils import cost_pricing

ROOT = Path(__file__).resolve().parents[4]


def product(usagetype: str, *tiers: tuple[str, str, str], unit: str = "Hrs") -> str:
    """A PriceList entry: one on-demand term with a price dimension per (begin, end, USD)."""
    dimensions = {
        f"SKU.TERM.{index}": {"unit": unit, "beginRange": begin, "endRange": end,
                              "pricePerUnit": {"USD": usd}, "description": "test"}
        for index, (begin, end, usd) in enumerate(tiers)
    }
    return json.dumps({
        "product": {"sku": "SKU", "attributes": {"usagetype": usagetype}},
        "terms": {
            "OnDemand": {"SKU.TERM": {"priceDimensions": dimensions}},
            "Reserved": {"SKU.RI": {"priceDimensions": {"x": {
                "unit": unit, "beginRange": "0", "endRange": "Inf",
                "pricePerUnit": {"USD": "0.0010000000"}}}}},
        },
    })


def _query(path: str) -> cost_pricing.Query:
    found = [q for q in cost_pricing.queries("us-east-1", {"ec2": ["t3.large"]})
             if " ".join(q.path) == path]
    assert len(found) == 1, path
    return found[0]


def test_an_instance_price_is_the_on_demand_one() -> None:
    answer = [product("BoxUsage:t3.large", ("0", "Inf", "0.0832000000"))]
    assert cost_pricing.price_from_products(_query("ec2_instance_hour t3.large"), answer) == 0.0832


def test_the_lowest_paid_tier_is_taken_over_the_free_allowance() -> None:
    answer = [product("DataTransfer-Out-Bytes", ("0", "100", "0.0000000000"),
                      ("10240", "51200", "0.0850000000"), ("100", "10240", "0.0900000000"),
                      unit="GB")]
    assert cost_pricing.price_from_products(_query("data_transfer_out_gb"), answer) == 0.09


def test_the_usage_type_tells_hours_from_bytes() -> None:
    answer = [product("NatGateway-Bytes", ("0", "Inf", "0.045"), unit="GB"),
              product("NatGateway-Hours", ("0", "Inf", "0.045"))]
    assert cost_pricing.price_from_products(_query("nat_gateway_hour"), answer) == 0.045
    assert cost_pricing.price_from_products(_query("nat_gateway_gb"), answer[:1]) == 0.045
    with pytest.raises(ValueError, match="no on-demand price in Hrs for nat_gateway_hour"):
        cost_pricing.price_from_products(_query("nat_gateway_hour"), answer[:1])


def test_per_request_prices_are_scaled_to_the_file_unit() -> None:
    answer = [product("Requests-Tier1", ("0", "Inf", "0.0000050000"), unit="Requests")]
    assert cost_pricing.price_from_products(_query("s3_put_per_1000"), answer) == 0.005


def test_disagreeing_products_are_refused_not_guessed() -> None:
    answer = [product("BoxUsage:t3.large", ("0", "Inf", "0.0832")),
              product("DedicatedUsage:t3.large", ("0", "Inf", "0.0915"))]
    with pytest.raises(ValueError, match=r"2 different prices for ec2_instance_hour t3.large"):
        cost_pricing.price_from_products(_query("ec2_instance_hour t3.large"), answer)


class StandInPricing:
    """A pricing client whose GetProducts answers, in two pages, one product for each query
    that makes this request, priced by the order it was asked in; it records the requests."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> StandInPricing:
        assert name == "get_products"
        return self

    def paginate(self, **request: Any) -> list[dict[str, Any]]:
        self.asked.append(request)
        entries = [
            product("X" + query.usagetype_suffix,
                    ("0", "Inf", f"{len(self.asked) / 1000 / query.scale:.10f}"), unit=query.unit)
            for query in cost_pricing.queries("us-east-1", WANTED) if query.request() == request
        ]
        return [{"PriceList": []}, {"PriceList": entries}]


COMMITTED = yaml.safe_load((ROOT / "data" / "prices" / "us-east-1.yml").read_text())
WANTED = cost_pricing.wanted_types([COMMITTED], [])


def _paths(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            found |= _paths(value, (*prefix, key))
        else:
            found.add((*prefix, key))
    return found


def test_refresh_writes_every_price_the_committed_file_has() -> None:
    client = StandInPricing()
    data = cost_pricing.refresh(client, "us-east-1", WANTED, datetime.date(2027, 1, 2))
    assert data["date"] == "2027-01-02"
    assert data["region"] == "us-east-1"
    assert "pricing:GetProducts" in data["source"]
    assert _paths(data["prices"]) == _paths(COMMITTED["prices"])
    # NAT hours and bytes, and the health check and its features, share a request.
    assert len(client.asked) == len(_paths(COMMITTED["prices"])) - 2
    assert len({json.dumps(asked, sort_keys=True) for asked in client.asked}) == len(client.asked)
    assert data["prices"]["ec2_instance_hour"][WANTED["ec2"][0]] == 0.001
    assert data["prices"]["nat_gateway_hour"] == data["prices"]["nat_gateway_gb"]


def test_wanted_types_add_the_inventories_types() -> None:
    env = {"aws_asgs": {"api": {"instance_type": "m7i.large"}},
           "aws_rds": {"instance_class": "db.m7g.large"},
           "aws_redis": {"node_type": "cache.m7g.large"}}
    wanted = cost_pricing.wanted_types([COMMITTED], [env])
    assert "m7i.large" in wanted["ec2"] and "t3.large" in wanted["ec2"]
    assert "db.m7g.large" in wanted["rds"] and "db.r5.xlarge" in wanted["rds"]
    assert "cache.m7g.large" in wanted["elasticache"]


def test_the_requests_are_valid_for_the_real_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's Stubber checks each request against the pricing service's own model."""
    import boto3
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("pricing", region_name="us-east-1")
    query = _query("ec2_instance_hour t3.large")
    answer = [product("BoxUsage:t3.large", ("0", "Inf", "0.0832000000"))]
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": answer, "FormatVersion": "aws_v1"},
                          query.request())
        pages = client.get_paginator("get_products").paginate(**query.request())
        price_list = [entry for page in pages for entry in page["PriceList"]]
        stub.assert_no_pending_responses()
    assert cost_pricing.price_from_products(query, price_list) == 0.0832
