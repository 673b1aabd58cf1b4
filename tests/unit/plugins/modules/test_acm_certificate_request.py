"""acm_certificate_request against moto's mock_aws: request, find again, tags, delete."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from ansible_collections.ideation.platform.plugins.modules import acm_certificate_request as module
from module_runner import run_module

DOMAIN = "ideation.example.com"


def args(**overrides: Any) -> dict[str, Any]:
    base = {
        "domain_name": DOMAIN,
        "subject_alternative_names": [f"*.{DOMAIN}"],
        "name_tag": "ideation-test",
        "tags": {"Environment": "test"},
    }
    base.update(overrides)
    return base


def certificates() -> list[dict[str, Any]]:
    acm = boto3.client("acm", region_name="us-east-1")
    return acm.list_certificates()["CertificateSummaryList"]


def test_check_mode_requests_nothing(aws, capsys):
    result = run_module(module, args(), capsys, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["after"]["subject_alternative_names"] == [f"*.{DOMAIN}", DOMAIN]
    assert certificates() == []


def test_requests_a_dns_validated_certificate(aws, capsys):
    result = run_module(module, args(), capsys)
    assert result["changed"] is True
    cert = result["certificate"]
    assert cert["domain_name"] == DOMAIN
    assert sorted(cert["subject_alternative_names"]) == [f"*.{DOMAIN}", DOMAIN]
    assert cert["status"] == "PENDING_VALIDATION"
    assert cert["tags"] == {"Environment": "test", "Name": "ideation-test"}
    assert {o["validation_method"] for o in cert["domain_validation_options"]} == {"DNS"}
    # The wildcard and the bare domain share one validation record.
    assert len(result["validation_records"]) == 1
    record = result["validation_records"][0]
    assert record["type"] == "CNAME"
    assert record["name"].endswith(f"{DOMAIN}.")
    assert len(certificates()) == 1


def test_second_run_finds_the_same_certificate(aws, capsys):
    first = run_module(module, args(), capsys)
    second = run_module(module, args(), capsys)
    assert second["changed"] is False
    assert second["certificate"]["certificate_arn"] == first["certificate"]["certificate_arn"]
    assert second["validation_records"] == first["validation_records"]
    assert len(certificates()) == 1


def test_other_names_are_another_certificate(aws, capsys):
    run_module(module, args(), capsys)
    result = run_module(module, args(subject_alternative_names=[f"api.{DOMAIN}"]), capsys)
    assert result["changed"] is True
    assert len(certificates()) == 2


def test_tags_change_in_place(aws, capsys):
    first = run_module(module, args(), capsys)
    result = run_module(
        module, args(tags={"Environment": "test", "Owner": "ops"}), capsys, diff=True
    )
    assert result["changed"] is True
    assert result["certificate"]["certificate_arn"] == first["certificate"]["certificate_arn"]
    assert result["certificate"]["tags"] == {
        "Environment": "test",
        "Owner": "ops",
        "Name": "ideation-test",
    }
    assert result["diff"]["before"]["tags"] == {"Environment": "test", "Name": "ideation-test"}


def test_check_mode_tag_change_changes_nothing(aws, capsys):
    run_module(module, args(), capsys)
    result = run_module(module, args(tags={"Environment": "prod"}), capsys, check_mode=True)
    assert result["changed"] is True
    assert result["certificate"]["tags"]["Environment"] == "test"


def test_imported_certificate_is_not_reused(aws, capsys):
    acm = boto3.client("acm", region_name="us-east-1")
    requested = run_module(module, args(), capsys)["certificate"]["certificate_arn"]
    acm.delete_certificate(CertificateArn=requested)
    pem = _self_signed(DOMAIN)
    acm.import_certificate(Certificate=pem[0], PrivateKey=pem[1])
    result = run_module(module, args(), capsys)
    assert result["changed"] is True
    assert result["certificate"]["type"] == "AMAZON_ISSUED"


def test_wait_returns_once_issued(aws, capsys, monkeypatch):
    from moto import settings

    monkeypatch.setattr(settings, "ACM_VALIDATION_WAIT", -1)
    result = run_module(module, args(wait=True, wait_timeout=60), capsys)
    assert result["changed"] is True
    assert result["certificate"]["status"] == "ISSUED"


def test_absent_deletes_matching_certificates_only(aws, capsys):
    run_module(module, args(), capsys)
    run_module(module, args(subject_alternative_names=[]), capsys)
    gone = args(state="absent")
    assert run_module(module, gone, capsys, check_mode=True)["changed"] is True
    assert len(certificates()) == 2
    assert run_module(module, gone, capsys)["changed"] is True
    (left,) = certificates()
    assert left["DomainName"] == DOMAIN
    assert run_module(module, gone, capsys)["changed"] is False


def _self_signed(name: str) -> tuple[bytes, bytes]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )


@pytest.mark.parametrize("state", ["present", "absent"])
def test_domain_is_required(aws, capsys, state):
    result = run_module(module, {"state": state}, capsys)
    assert result["failed"] is True
    assert "domain_name" in result["msg"]
