#!/usr/bin/python
# Copyright: ideation platform team
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acm_certificate_request
short_description: Request an AWS Certificate Manager certificate, validated through DNS
version_added: 0.1.0
description:
  - Requests a public certificate from AWS Certificate Manager (ACM) for a domain and its
    subject alternative names, or finds the one requested before, and returns the DNS records
    that prove control of the domains.
  - C(community.aws.acm_certificate) only imports certificates; this module asks ACM to issue one.
  - A certificate is the same one when its domain name, its set of subject alternative names
    and, if O(name_tag) is given, its C(Name) tag match. A certificate that is expired, revoked,
    failed or timed out is never reused.
  - ACM renews a DNS-validated certificate by itself as long as the validation records stay in
    the zone.
author:
  - Ideation platform team (@ideation-platform)
options:
  state:
    description:
      - C(present) requests the certificate if no matching one exists; C(absent) deletes every
        matching certificate.
    type: str
    choices: [present, absent]
    default: present
  domain_name:
    description:
      - The certificate's main domain, for example V(example.com).
    type: str
    required: true
  subject_alternative_names:
    description:
      - Further names the certificate covers, for example V(*.example.com).
    type: list
    elements: str
    default: []
  validation_method:
    description:
      - How ACM checks that you control the domains.
    type: str
    choices: [DNS, EMAIL]
    default: DNS
  key_algorithm:
    description:
      - Algorithm of the certificate's key pair.
    type: str
    choices: [RSA_2048, EC_prime256v1, EC_secp384r1]
    default: RSA_2048
  name_tag:
    description:
      - Value of the certificate's C(Name) tag, used with the domains to find it again.
    type: str
  wait:
    description:
      - Wait until the certificate is issued. Needs the validation records in public DNS.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for issuance; also bounds the wait for the validation records to appear.
    type: int
    default: 900
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: aws
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the site certificate is requested
  ideation.platform.acm_certificate_request:
    domain_name: ideation.example.com
    subject_alternative_names: ["*.ideation.example.com"]
    name_tag: ideation-prod
    tags:
      Environment: prod
  register: certificate

- name: Ensure the DNS validation records exist
  amazon.aws.route53:
    zone: ideation.example.com
    record: "{{ item.name }}"
    type: "{{ item.type }}"
    value: "{{ item.value }}"
    ttl: 300
    overwrite: true
    state: present
  loop: "{{ certificate.validation_records }}"

- name: Delete the certificate
  ideation.platform.acm_certificate_request:
    domain_name: ideation.example.com
    subject_alternative_names: ["*.ideation.example.com"]
    name_tag: ideation-prod
    state: absent
"""

RETURN = r"""
certificate:
  description: The certificate as ACM describes it, in snake case. Empty when there is none.
  returned: always
  type: dict
  contains:
    certificate_arn:
      description: ARN of the certificate.
      type: str
      sample: arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012
    status:
      description: V(PENDING_VALIDATION), V(ISSUED), and so on.
      type: str
    domain_name:
      description: Main domain.
      type: str
    subject_alternative_names:
      description: Every name the certificate covers, the main domain included.
      type: list
      elements: str
    domain_validation_options:
      description: Validation state per domain.
      type: list
      elements: dict
    tags:
      description: Tags of the certificate.
      type: dict
validation_records:
  description: The distinct DNS records to create for DNS validation (a wildcard shares its
    record with the bare domain).
  returned: when O(state=present) and the method is DNS
  type: list
  elements: dict
  sample: [{name: _x1.example.com., type: CNAME, value: _x2.acm-validations.aws.}]
"""

import contextlib
import time
import uuid
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)

REUSABLE = ["PENDING_VALIDATION", "ISSUED", "INACTIVE"]
KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1"]


class Certificates:
    """Find, request, tag and delete the certificates this module manages."""

    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.params = module.params
        self.client = module.client("acm", retry_decorator=AWSRetry.jittered_backoff())
        self.names = sorted(
            {self.params["domain_name"], *(self.params["subject_alternative_names"] or [])}
        )

    def fail(self, error: Exception, msg: str) -> None:
        self.module.fail_json_aws(error, msg=msg)

    def describe(self, arn: str) -> dict[str, Any] | None:
        """Describe one certificate with its tags, or None if it vanished meanwhile."""
        try:
            cert = self.client.describe_certificate(CertificateArn=arn, aws_retry=True)[
                "Certificate"
            ]
            tags = self.client.list_tags_for_certificate(CertificateArn=arn, aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.fail(e, f"Failed to describe certificate {arn}")
        cert["Tags"] = boto3_tag_list_to_ansible_dict(tags.get("Tags", []))
        return cert

    def matching(self) -> list[dict[str, Any]]:
        """Every reusable, ACM-issued certificate for exactly these names (and Name tag)."""
        found = []
        try:
            paginator = self.client.get_paginator("list_certificates")
            pages = paginator.paginate(
                CertificateStatuses=REUSABLE, Includes={"keyTypes": KEY_TYPES}
            ).build_full_result()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, "Failed to list certificates")
        for summary in pages.get("CertificateSummaryList", []):
            if summary.get("DomainName") != self.params["domain_name"]:
                continue
            cert = self.describe(summary["CertificateArn"])
            if not cert or cert.get("Type") != "AMAZON_ISSUED":
                continue
            if sorted(set(cert.get("SubjectAlternativeNames") or [])) != self.names:
                continue
            if self.params["name_tag"] and cert["Tags"].get("Name") != self.params["name_tag"]:
                continue
            found.append(cert)
        return found

    def request(self) -> str:
        """Ask ACM for the certificate.

        The idempotency token is new for each run: retries within the run cannot request twice,
        and a certificate deleted within the hour is not handed back by ACM for the same token.
        """
        token = uuid.uuid4().hex
        tags = dict(self.params["tags"] or {})
        if self.params["name_tag"]:
            tags["Name"] = self.params["name_tag"]
        request: dict[str, Any] = {
            "DomainName": self.params["domain_name"],
            "ValidationMethod": self.params["validation_method"],
            "IdempotencyToken": token,
            "KeyAlgorithm": self.params["key_algorithm"],
        }
        sans = [n for n in self.params["subject_alternative_names"] or [] if n]
        if sans:
            request["SubjectAlternativeNames"] = sorted({self.params["domain_name"], *sans})
        if tags:
            request["Tags"] = ansible_dict_to_boto3_tag_list(tags)
        try:
            return self.client.request_certificate(aws_retry=True, **request)["CertificateArn"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"Failed to request a certificate for {self.params['domain_name']}")
        return ""

    def update_tags(self, cert: dict[str, Any]) -> bool:
        """Bring the tags in line; the Name tag always follows name_tag."""
        if self.params["tags"] is None and not self.params["name_tag"]:
            return False
        wanted = dict(self.params["tags"] if self.params["tags"] is not None else cert["Tags"])
        if self.params["name_tag"]:
            wanted["Name"] = self.params["name_tag"]
        add, remove = compare_aws_tags(cert["Tags"], wanted, self.params["purge_tags"])
        if not (add or remove):
            return False
        if self.module.check_mode:
            return True
        arn = cert["CertificateArn"]
        try:
            if remove:
                self.client.remove_tags_from_certificate(
                    CertificateArn=arn,
                    Tags=[{"Key": k, "Value": cert["Tags"][k]} for k in remove],
                    aws_retry=True,
                )
            if add:
                self.client.add_tags_to_certificate(
                    CertificateArn=arn, Tags=ansible_dict_to_boto3_tag_list(add), aws_retry=True
                )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"Failed to tag certificate {arn}")
        return True

    def wait_for_records(self, arn: str) -> dict[str, Any] | None:
        """ACM adds the DNS validation records a few seconds after the request; wait for them."""
        deadline = time.monotonic() + min(120, self.params["wait_timeout"])
        cert = self.describe(arn)
        while cert and self.params["validation_method"] == "DNS":
            options = cert.get("DomainValidationOptions") or []
            if options and all(o.get("ResourceRecord") for o in options):
                break
            if time.monotonic() > deadline:
                self.module.warn(f"ACM has not published every validation record of {arn} yet")
                break
            time.sleep(3)
            cert = self.describe(arn)
        return cert

    def wait_issued(self, arn: str) -> dict[str, Any] | None:
        """Wait with the boto3 certificate_validated waiter, bounded by wait_timeout."""
        delay = 15
        try:
            self.client.client.get_waiter("certificate_validated").wait(
                CertificateArn=arn,
                WaiterConfig={
                    "Delay": delay,
                    "MaxAttempts": max(1, self.params["wait_timeout"] // delay),
                },
            )
        except botocore.exceptions.WaiterError as e:
            self.fail(e, f"Certificate {arn} was not issued in {self.params['wait_timeout']}s")
        return self.describe(arn)

    def delete(self, arn: str) -> None:
        try:
            self.client.delete_certificate(CertificateArn=arn, aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            return
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.fail(e, f"Failed to delete certificate {arn} (is it still in use?)")


def validation_records(cert: dict[str, Any] | None) -> list[dict[str, str]]:
    """The distinct DNS records of a certificate's validation options."""
    records: dict[tuple[str, str], dict[str, str]] = {}
    for option in (cert or {}).get("DomainValidationOptions") or []:
        record = option.get("ResourceRecord")
        if record:
            key = (record["Name"], record["Type"])
            records[key] = {
                "name": record["Name"],
                "type": record["Type"],
                "value": record["Value"],
            }
    return [records[k] for k in sorted(records)]


def summary(cert: dict[str, Any] | None) -> dict[str, Any]:
    """What the diff shows of a certificate."""
    if not cert:
        return {}
    return {
        "certificate_arn": cert.get("CertificateArn"),
        "domain_name": cert.get("DomainName"),
        "subject_alternative_names": sorted(cert.get("SubjectAlternativeNames") or []),
        "tags": cert.get("Tags", {}),
    }


def output(cert: dict[str, Any] | None) -> dict[str, Any]:
    if not cert:
        return {}
    tags = cert.get("Tags", {})
    out = camel_dict_to_snake_dict({k: v for k, v in cert.items() if k != "Tags"})
    out["tags"] = tags
    return out


def ensure_present(certs: Certificates) -> None:
    module = certs.module
    found = certs.matching()
    if len(found) > 1:
        issued = [c for c in found if c.get("Status") == "ISSUED"]
        found = issued if len(issued) == 1 else found
    if len(found) > 1:
        arns = ", ".join(c["CertificateArn"] for c in found)
        module.fail_json(
            msg=f"Several certificates match {certs.names}: {arns}. Set name_tag, or delete "
            "the extra ones."
        )
    if not found:
        wanted = {
            "domain_name": module.params["domain_name"],
            "subject_alternative_names": certs.names,
        }
        if module.check_mode:
            module.exit_json(
                changed=True,
                diff={"before": {}, "after": wanted},
                certificate={},
                validation_records=[],
            )
        cert = certs.wait_for_records(certs.request())
        if module.params["wait"] and cert:
            cert = certs.wait_issued(cert["CertificateArn"])
        after = summary(cert)
        module.exit_json(
            changed=True,
            diff={"before": {}, "after": after},
            certificate=output(cert),
            validation_records=validation_records(cert),
        )
    cert = found[0]
    before = summary(cert)
    changed = certs.update_tags(cert)
    if changed and not module.check_mode:
        cert = certs.describe(cert["CertificateArn"])
    if module.params["wait"] and cert and cert.get("Status") != "ISSUED" and not module.check_mode:
        cert = certs.wait_issued(cert["CertificateArn"])
    after = summary(cert)
    if changed and module.check_mode:
        wanted_tags = dict(module.params["tags"] or {})
        if module.params["name_tag"]:
            wanted_tags["Name"] = module.params["name_tag"]
        after = {**after, "tags": wanted_tags}
    module.exit_json(
        changed=changed,
        diff={"before": before, "after": after},
        certificate=output(cert),
        validation_records=validation_records(cert),
    )


def ensure_absent(certs: Certificates) -> None:
    module = certs.module
    found = certs.matching()
    if found and not module.check_mode:
        for cert in found:
            certs.delete(cert["CertificateArn"])
    module.exit_json(
        changed=bool(found),
        diff={"before": [summary(c) for c in found], "after": []},
        certificate={},
    )


def main() -> None:
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        domain_name=dict(type="str", required=True),
        subject_alternative_names=dict(type="list", elements="str", default=[]),
        validation_method=dict(type="str", choices=["DNS", "EMAIL"], default="DNS"),
        key_algorithm=dict(
            type="str", choices=["RSA_2048", "EC_prime256v1", "EC_secp384r1"], default="RSA_2048"
        ),
        name_tag=dict(type="str"),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=900),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    certs = Certificates(module)
    if module.params["state"] == "present":
        ensure_present(certs)
    else:
        ensure_absent(certs)


if __name__ == "__main__":
    main()
