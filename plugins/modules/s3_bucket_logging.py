#!/usr/bin/python
# Copyright: ideation platform team
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_bucket_logging
short_description: Turn an S3 bucket's server access logging on or off, without touching ACLs
version_added: 0.1.0
description:
  - Sets where a bucket's server access logs go (O(target_bucket), under O(target_prefix)),
    or turns them off (O(state=absent)).
  - The target bucket must let S3's logging service (C(logging.s3.amazonaws.com)) put objects
    through its bucket policy, as AWS recommends for buckets whose object ownership is
    C(BucketOwnerEnforced) (ACLs disabled). C(community.aws.s3_logging) grants the log-delivery
    group an ACL on the target instead, which such a bucket refuses.
  - Idempotent, with check mode and diff.
author:
  - Ideation platform team (@ideation-platform)
options:
  name:
    description:
      - The bucket whose requests are logged.
    type: str
    required: true
  target_bucket:
    description:
      - The bucket the logs are delivered to; required with O(state=present).
    type: str
  target_prefix:
    description:
      - The key prefix of the log objects in O(target_bucket), e.g. C(source-bucket/).
    type: str
    default: ""
  state:
    description:
      - C(present) delivers the logs to O(target_bucket); C(absent) turns logging off.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log the document bucket's requests to the access log bucket
  ideation.platform.s3_bucket_logging:
    name: ideation-documents-prod
    target_bucket: ideation-prod-access-logs
    target_prefix: ideation-documents-prod/

- name: Turn the logging off
  ideation.platform.s3_bucket_logging:
    name: ideation-documents-prod
    state: absent
"""

RETURN = r"""
logging_enabled:
  description: Where the logs go after the change (check mode, where they would go); empty when off.
  returned: always
  type: dict
  sample:
    target_bucket: ideation-prod-access-logs
    target_prefix: ideation-documents-prod/
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def wanted(state: str, target_bucket: str | None, target_prefix: str) -> dict[str, str]:
    """The logging this module is asked for, in the module's return shape ({} for off)."""
    if state == "absent":
        return {}
    return {"target_bucket": target_bucket or "", "target_prefix": target_prefix}


def current(answer: dict) -> dict[str, str]:
    """GetBucketLogging's answer in the module's return shape ({} when logging is off)."""
    enabled = answer.get("LoggingEnabled")
    if not enabled:
        return {}
    return {
        "target_bucket": enabled.get("TargetBucket", ""),
        "target_prefix": enabled.get("TargetPrefix", ""),
    }


def main() -> None:
    argument_spec = dict(
        name=dict(type="str", required=True),
        target_bucket=dict(type="str"),
        target_prefix=dict(type="str", default=""),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["target_bucket"])],
        supports_check_mode=True,
    )
    bucket = module.params["name"]
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    try:
        before = current(client.get_bucket_logging(Bucket=bucket, aws_retry=True))
    except is_boto3_error_code("NoSuchBucket"):
        module.fail_json(msg=f"Bucket {bucket} does not exist")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read the logging of bucket {bucket}")
    after = wanted(
        module.params["state"], module.params["target_bucket"], module.params["target_prefix"]
    )
    changed = before != after
    if changed and not module.check_mode:
        status = {}
        if after:
            status = {
                "LoggingEnabled": {
                    "TargetBucket": after["target_bucket"],
                    "TargetPrefix": after["target_prefix"],
                }
            }
        try:
            client.put_bucket_logging(Bucket=bucket, BucketLoggingStatus=status, aws_retry=True)
        except is_boto3_error_code("InvalidTargetBucketForLogging") as e:
            module.fail_json_aws(
                e,
                msg=(
                    f"S3 refuses {after.get('target_bucket')} as the log bucket of {bucket}: its "
                    "policy must allow logging.s3.amazonaws.com s3:PutObject on "
                    f"{after.get('target_prefix')}*, and it must be in the same region and account"
                ),
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"Failed to set the logging of bucket {bucket}")
    result = {"changed": changed, "logging_enabled": after}
    if module._diff:
        result["diff"] = {
            "before": {"logging_enabled": before},
            "after": {"logging_enabled": after},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
