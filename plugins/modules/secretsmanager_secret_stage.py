#!/usr/bin/python
# Copyright: ideation platform team
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: secretsmanager_secret_stage
short_description: Stage a new Secrets Manager secret value as AWSPENDING, then promote or drop it
version_added: 0.1.0
description:
  - The staged rotation Secrets Manager's own rotation uses, for runbooks that change the
    server's side themselves. O(state=pending) writes a new value labelled C(AWSPENDING) only
    (C(AWSCURRENT), what every reader gets, stays on the working value).
    O(state=current) moves C(AWSCURRENT) to the C(AWSPENDING) version once the server takes the
    new value (Secrets Manager moves C(AWSPREVIOUS) to the old one) and removes C(AWSPENDING).
    O(state=dropped) removes C(AWSPENDING), abandoning the staged value.
  - C(community.aws.secretsmanager_secret) cannot set version stages.
  - Idempotent; the secret's value is never returned. The secret must exist.
author:
  - Ideation platform team (@ideation-platform)
options:
  secret_id:
    description:
      - Name or ARN of the secret.
    type: str
    required: true
    aliases: [name]
  state:
    description:
      - C(pending) stages O(secret) as C(AWSPENDING) (nothing changes when C(AWSPENDING) already
        holds it); C(current) promotes the C(AWSPENDING) version (nothing changes when there is
        none); C(dropped) removes the C(AWSPENDING) label.
    type: str
    choices: [pending, current, dropped]
    required: true
  secret:
    description:
      - The new value, for O(state=pending).
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stage the new password
  ideation.platform.secretsmanager_secret_stage:
    secret_id: ideation/db/password
    state: pending
    secret: "{{ new_password }}"
  no_log: true

- name: Make it the current one, once the server takes it
  ideation.platform.secretsmanager_secret_stage:
    secret_id: ideation/db/password
    state: current
"""

RETURN = r"""
version_ids_to_stages:
  description: The secret's versions and their labels after the change (check mode, before).
  returned: always
  type: dict
  sample: {"dc1ed59b-6d8e-4450-8b41-536dfe4600a9": ["AWSCURRENT"]}
pending_version_id:
  description: The version that holds (or held, for O(state=current)) C(AWSPENDING), if any.
  returned: always
  type: str
"""

import contextlib
import uuid

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"


def holder(stages: dict[str, list[str]], label: str) -> str | None:
    """The version that carries a label (Secrets Manager puts each label on one version)."""
    return next((version for version, labels in stages.items() if label in labels), None)


def promote_moves(stages: dict[str, list[str]]) -> list[dict[str, str]]:
    """UpdateSecretVersionStage calls that make the AWSPENDING version AWSCURRENT and unlabel it.

    No pending version: nothing to do (promoted already, or never staged).
    """
    pending = holder(stages, PENDING)
    if pending is None:
        return []
    current = holder(stages, CURRENT)
    moves = []
    if current != pending:
        move = {"VersionStage": CURRENT, "MoveToVersionId": pending}
        if current is not None:
            move["RemoveFromVersionId"] = current
        moves.append(move)
    moves.append({"VersionStage": PENDING, "RemoveFromVersionId": pending})
    return moves


def drop_moves(stages: dict[str, list[str]]) -> list[dict[str, str]]:
    """The UpdateSecretVersionStage call that removes AWSPENDING, if a version carries it."""
    pending = holder(stages, PENDING)
    return [] if pending is None else [{"VersionStage": PENDING, "RemoveFromVersionId": pending}]


def apply_moves(stages: dict[str, list[str]], moves: list[dict[str, str]]) -> dict[str, list[str]]:
    """The labels after the moves, as Secrets Manager applies them (for check mode's answer)."""
    after = {version: list(labels) for version, labels in stages.items()}
    for move in moves:
        label = move["VersionStage"]
        if "RemoveFromVersionId" in move:
            after[move["RemoveFromVersionId"]].remove(label)
            if label == CURRENT:
                for labels in after.values():
                    if "AWSPREVIOUS" in labels:
                        labels.remove("AWSPREVIOUS")
                after[move["RemoveFromVersionId"]].append("AWSPREVIOUS")
        if "MoveToVersionId" in move:
            after[move["MoveToVersionId"]].append(label)
            if label == CURRENT and "AWSPREVIOUS" in after[move["MoveToVersionId"]]:
                after[move["MoveToVersionId"]].remove("AWSPREVIOUS")
    return after


class Secret:
    """The calls this module makes on one secret."""

    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.secret_id = module.params["secret_id"]
        self.client = module.client("secretsmanager", retry_decorator=AWSRetry.jittered_backoff())

    def stages(self) -> dict[str, list[str]]:
        try:
            answer = self.client.describe_secret(SecretId=self.secret_id, aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            self.module.fail_json(msg=f"Secret {self.secret_id} does not exist")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to describe secret {self.secret_id}")
        return {k: list(v) for k, v in answer.get("VersionIdsToStages", {}).items()}

    def pending_value(self) -> str | None:
        try:
            answer = self.client.get_secret_value(
                SecretId=self.secret_id, VersionStage=PENDING, aws_retry=True
            )
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(
                e, msg=f"Failed to read the pending value of {self.secret_id}"
            )
        return answer.get("SecretString")

    def put_pending(self, value: str) -> str:
        try:
            return self.client.put_secret_value(
                SecretId=self.secret_id,
                SecretString=value,
                VersionStages=[PENDING],
                ClientRequestToken=str(uuid.uuid4()),
                aws_retry=True,
            )["VersionId"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to stage a new value of {self.secret_id}")
        return ""

    def move(self, moves: list[dict[str, str]]) -> None:
        for move in moves:
            try:
                self.client.update_secret_version_stage(
                    SecretId=self.secret_id, aws_retry=True, **move
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                self.module.fail_json_aws(
                    e, msg=f"Failed to move {move['VersionStage']} of {self.secret_id}"
                )


def main() -> None:
    argument_spec = dict(
        secret_id=dict(type="str", required=True, aliases=["name"]),
        state=dict(type="str", choices=["pending", "current", "dropped"], required=True),
        secret=dict(type="str", no_log=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "pending", ["secret"])],
        supports_check_mode=True,
    )
    secret = Secret(module)
    stages = secret.stages()
    before_pending = holder(stages, PENDING)
    state = module.params["state"]
    if state == "pending":
        if before_pending is not None and secret.pending_value() == module.params["secret"]:
            module.exit_json(
                changed=False, version_ids_to_stages=stages, pending_version_id=before_pending
            )
        if module.check_mode:
            module.exit_json(changed=True, version_ids_to_stages=stages, pending_version_id="")
        version = secret.put_pending(module.params["secret"])
        module.exit_json(
            changed=True, version_ids_to_stages=secret.stages(), pending_version_id=version
        )
    moves = promote_moves(stages) if state == "current" else drop_moves(stages)
    if moves and not module.check_mode:
        secret.move(moves)
        stages = secret.stages()
    elif moves:
        stages = apply_moves(stages, moves)
    module.exit_json(
        changed=bool(moves), version_ids_to_stages=stages, pending_version_id=before_pending or ""
    )


if __name__ == "__main__":
    main()
