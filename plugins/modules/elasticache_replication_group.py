#!/usr/bin/python
# Copyright: ideation platform team
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: elasticache_replication_group
short_description: Manage an ElastiCache Redis OSS or Valkey replication group, cluster mode off
version_added: 0.1.0
description:
  - Creates, updates and deletes an Amazon ElastiCache replication group with one primary node
    and up to five read replicas (cluster mode disabled), the layout that Celery's Redis transport
    and most Redis clients expect.
  - C(community.aws.elasticache) only manages single cache clusters; this module covers
    replication groups, with automatic failover, Multi-AZ, encryption and snapshot settings.
  - Settings that ElastiCache reports on the member clusters (engine version, parameter group,
    security groups, maintenance window) are read from the primary node.
  - Settings that cannot change after creation (subnet group, port, encryption at rest, KMS key,
    encryption in transit) are compared and reported in a warning, never silently ignored.
author:
  - Ideation platform team (@ideation-platform)
options:
  state:
    description:
      - C(present) creates or updates the replication group, C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  replication_group_id:
    description:
      - The replication group identifier (1-40 lowercase letters, digits and hyphens).
    type: str
    required: true
    aliases: [name]
  description:
    description:
      - Description of the replication group. Required when the group is created.
    type: str
  engine:
    description:
      - Cache engine.
    type: str
    choices: [redis, valkey]
    default: redis
  engine_version:
    description:
      - Engine version, for example V(7.1).
    type: str
  cache_node_type:
    description:
      - Node type of every node, for example V(cache.r6g.xlarge). Required when the group is
        created; a change scales the group online.
    type: str
  num_cache_clusters:
    description:
      - Number of nodes, the primary included (1 to 6). V(3) means one primary and two replicas.
      - A change on an existing group adds or removes replicas online
        (C(IncreaseReplicaCount)/C(DecreaseReplicaCount)).
    type: int
  preferred_cache_cluster_azs:
    description:
      - Availability zones of the nodes, primary first. Used at creation only.
    type: list
    elements: str
  cache_parameter_group_name:
    description:
      - Cache parameter group, for example V(default.redis7).
    type: str
  cache_subnet_group_name:
    description:
      - Cache subnet group to place the nodes in. Cannot change after creation.
    type: str
  security_group_ids:
    description:
      - VPC security group IDs of the nodes.
    type: list
    elements: str
  port:
    description:
      - Port the nodes listen on. Cannot change after creation.
    type: int
    default: 6379
  automatic_failover:
    description:
      - Promote a replica automatically when the primary fails. Needs at least two nodes.
    type: bool
  multi_az:
    description:
      - Spread nodes over availability zones and fail over across zones. Needs automatic failover.
    type: bool
  transit_encryption:
    description:
      - Encrypt client and replication traffic with TLS. Set at creation.
    type: bool
  auth_token:
    description:
      - Redis AUTH token (password) clients must send, 16 to 128 printable ASCII characters
        without spaces, V(@), double quotes or V(/). Needs O(transit_encryption).
      - Set at creation. ElastiCache never shows a token, so on an existing group it is only
        sent when the group has none yet (AUTH is turned on with O(auth_token_update_strategy),
        default V(ROTATE)) or when O(auth_token_update_strategy) is given (a rotation, so the task
        then always reports a change).
    type: str
  auth_token_update_strategy:
    description:
      - How a token is applied to an existing group. V(ROTATE) adds O(auth_token) and keeps
        accepting the current one; V(SET) makes O(auth_token) the only one (after clients moved
        to it); V(DELETE) turns AUTH off (no O(auth_token)).
      - Applied immediately, whatever O(apply_immediately) says, as ElastiCache requires.
    type: str
    choices: [ROTATE, SET, DELETE]
  at_rest_encryption:
    description:
      - Encrypt data on disk and in snapshots. Cannot change after creation.
    type: bool
  kms_key_id:
    description:
      - KMS key (ID or ARN) for encryption at rest. Cannot change after creation.
    type: str
  snapshot_retention_limit:
    description:
      - Days automatic snapshots are kept; V(0) turns automatic snapshots off.
    type: int
  snapshot_window:
    description:
      - Daily UTC time range of the automatic snapshot, for example V(03:00-04:00).
    type: str
  preferred_maintenance_window:
    description:
      - Weekly UTC maintenance window, for example V(sun:05:00-sun:06:00). Lower-case day names.
    type: str
  auto_minor_version_upgrade:
    description:
      - Apply minor engine upgrades in the maintenance window.
    type: bool
  notification_topic_arn:
    description:
      - SNS topic that receives ElastiCache events for the group.
    type: str
  apply_immediately:
    description:
      - Apply modifications now instead of in the next maintenance window.
    type: bool
    default: false
  final_snapshot_identifier:
    description:
      - With O(state=absent), name of a final snapshot taken before deletion.
    type: str
  wait:
    description:
      - Wait until the group is available after a creation or change, or gone after deletion.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait.
    type: int
    default: 1800
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
- name: Ensure the Redis replication group exists (1 primary + 2 replicas)
  ideation.platform.elasticache_replication_group:
    replication_group_id: ideation-prod-redis
    description: ideation prod Redis
    engine_version: "7.1"
    cache_node_type: cache.r6g.xlarge
    num_cache_clusters: 3
    cache_subnet_group_name: ideation-prod-redis
    security_group_ids: ["{{ redis_sg_id }}"]
    automatic_failover: true
    multi_az: true
    transit_encryption: true
    auth_token: "{{ redis_auth_token }}"
    at_rest_encryption: true
    kms_key_id: "{{ kms_key_arn }}"
    snapshot_retention_limit: 5
    snapshot_window: "03:00-04:00"
    preferred_maintenance_window: sun:05:00-sun:06:00
    tags:
      Environment: prod
  register: redis

# Rotation: add the new token beside the current one, move the clients, then keep only it.
- name: Add a new AUTH token beside the current one
  ideation.platform.elasticache_replication_group:
    replication_group_id: ideation-prod-redis
    auth_token: "{{ new_redis_auth_token }}"
    auth_token_update_strategy: ROTATE

- name: Remove the replication group without a final snapshot
  ideation.platform.elasticache_replication_group:
    replication_group_id: ideation-dev-redis
    state: absent
"""

RETURN = r"""
replication_group:
  description: The group as ElastiCache describes it, in snake case; empty after deletion.
  returned: always
  type: dict
  contains:
    replication_group_id:
      description: Identifier of the group.
      type: str
      sample: ideation-prod-redis
    arn:
      description: ARN of the group.
      type: str
    status:
      description: Status, for example V(available).
      type: str
    member_clusters:
      description: Identifiers of the member nodes.
      type: list
      elements: str
    automatic_failover:
      description: V(enabled) or V(disabled).
      type: str
    multi_az:
      description: V(enabled) or V(disabled).
      type: str
    tags:
      description: Tags of the group.
      type: dict
primary_endpoint:
  description: Address and port that clients write to.
  returned: when the group exists
  type: dict
  sample: {address: master.ideation-prod-redis.abc123.use1.cache.amazonaws.com, port: 6379}
reader_endpoint:
  description: Address and port that balances reads over the replicas.
  returned: when the group exists
  type: dict
"""

import contextlib
import re
import time
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

# Settings compared on an existing group, mapped to the ModifyReplicationGroup parameter that
# changes them. Immutable ones are listed separately and only warned about.
MODIFIABLE = {
    "description": "ReplicationGroupDescription",
    "cache_node_type": "CacheNodeType",
    "automatic_failover": "AutomaticFailoverEnabled",
    "multi_az": "MultiAZEnabled",
    "snapshot_retention_limit": "SnapshotRetentionLimit",
    "snapshot_window": "SnapshotWindow",
    "engine_version": "EngineVersion",
    "cache_parameter_group_name": "CacheParameterGroupName",
    "security_group_ids": "SecurityGroupIds",
    "preferred_maintenance_window": "PreferredMaintenanceWindow",
    "auto_minor_version_upgrade": "AutoMinorVersionUpgrade",
    "notification_topic_arn": "NotificationTopicArn",
}
IMMUTABLE = (
    "cache_subnet_group_name",
    "port",
    "transit_encryption",
    "at_rest_encryption",
    "kms_key_id",
)
GONE_STATUSES = ("deleting",)


class GroupManager:
    """Reads, creates, changes and deletes one replication group."""

    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.params = module.params
        self.client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff())
        self.group_id = self.params["replication_group_id"].lower()

    # -- reading ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any] | None:
        """Return the group description, or None when it does not exist."""
        try:
            groups = self.client.describe_replication_groups(
                ReplicationGroupId=self.group_id, aws_retry=True
            )["ReplicationGroups"]
        except is_boto3_error_code("ReplicationGroupNotFoundFault"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(
                e, msg=f"Failed to describe replication group {self.group_id}"
            )
        return groups[0] if groups else None

    def primary_node(self, group: dict[str, Any]) -> dict[str, Any] | None:
        """Describe the primary member cluster, which carries version, SGs and windows."""
        members = group.get("MemberClusters") or []
        primary_id = None
        for node_group in group.get("NodeGroups") or []:
            for member in node_group.get("NodeGroupMembers") or []:
                if member.get("CurrentRole") == "primary":
                    primary_id = member.get("CacheClusterId")
        primary_id = primary_id or (members[0] if members else None)
        if not primary_id:
            return None
        try:
            nodes = self.client.describe_cache_clusters(CacheClusterId=primary_id, aws_retry=True)[
                "CacheClusters"
            ]
        except is_boto3_error_code("CacheClusterNotFound"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to describe cache cluster {primary_id}")
        return nodes[0] if nodes else None

    def tags(self, arn: str) -> dict[str, str]:
        """Return the tags of the group as a dict."""
        try:
            tag_list = self.client.list_tags_for_resource(ResourceName=arn, aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to list tags of {arn}")
        return boto3_tag_list_to_ansible_dict(tag_list.get("TagList", []))

    @staticmethod
    def observed(group: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any]:
        """Map what AWS reports to the module's option names, leaving out what is not reported."""
        state: dict[str, Any] = {
            "description": group.get("Description"),
            "cache_node_type": group.get("CacheNodeType"),
            "automatic_failover": group.get("AutomaticFailover") in ("enabled", "enabling"),
            "multi_az": group.get("MultiAZ") == "enabled",
            "snapshot_retention_limit": group.get("SnapshotRetentionLimit"),
            "snapshot_window": group.get("SnapshotWindow"),
            "num_cache_clusters": len(group.get("MemberClusters") or []),
            "transit_encryption": bool(group.get("TransitEncryptionEnabled")),
            "at_rest_encryption": bool(group.get("AtRestEncryptionEnabled")),
            "kms_key_id": group.get("KmsKeyId"),
        }
        if "AutoMinorVersionUpgrade" in group:
            state["auto_minor_version_upgrade"] = group["AutoMinorVersionUpgrade"]
        node_groups = group.get("NodeGroups") or [{}]
        endpoint = node_groups[0].get("PrimaryEndpoint") or {}
        if endpoint.get("Port"):
            state["port"] = endpoint["Port"]
        if node:
            state["engine_version"] = node.get("EngineVersion")
            state["cache_parameter_group_name"] = (node.get("CacheParameterGroup") or {}).get(
                "CacheParameterGroupName"
            )
            state["cache_subnet_group_name"] = node.get("CacheSubnetGroupName")
            state["security_group_ids"] = sorted(
                sg["SecurityGroupId"] for sg in node.get("SecurityGroups") or []
            )
            state["preferred_maintenance_window"] = node.get("PreferredMaintenanceWindow")
            topic = (node.get("NotificationConfiguration") or {}).get("TopicArn")
            if topic:
                state["notification_topic_arn"] = topic
        return {k: v for k, v in state.items() if v is not None}

    def desired(self) -> dict[str, Any]:
        """The options the user set, under the same names as observed()."""
        wanted = {}
        for key in (*MODIFIABLE, *IMMUTABLE, "num_cache_clusters"):
            value = self.params.get(key)
            if value is None:
                continue
            if key == "security_group_ids":
                value = sorted(value)
            if key == "preferred_maintenance_window":
                value = value.lower()
            wanted[key] = value
        return wanted

    @staticmethod
    def same(key: str, want: Any, have: Any) -> bool:
        """Compare one setting; KMS keys match by ID or ARN and versions by prefix."""
        if key == "kms_key_id" and isinstance(have, str):
            return have == want or have.endswith(f"/{want}") or want.endswith(f"/{have}")
        if key == "engine_version" and isinstance(have, str):
            return have == want or have.startswith(f"{want}.")
        return want == have

    # -- changing --------------------------------------------------------------------------
    def create(self) -> None:
        """Create the group from the module's options."""
        p = self.params
        missing = [k for k in ("description", "cache_node_type") if not p.get(k)]
        if missing:
            self.module.fail_json(msg=f"Creating {self.group_id} needs: {', '.join(missing)}")
        request: dict[str, Any] = {
            "ReplicationGroupId": self.group_id,
            "ReplicationGroupDescription": p["description"],
            "Engine": p["engine"],
            "CacheNodeType": p["cache_node_type"],
            "NumCacheClusters": p["num_cache_clusters"] or 1,
            "Port": p["port"],
        }
        optional = {
            "EngineVersion": p["engine_version"],
            "PreferredCacheClusterAZs": p["preferred_cache_cluster_azs"],
            "CacheParameterGroupName": p["cache_parameter_group_name"],
            "CacheSubnetGroupName": p["cache_subnet_group_name"],
            "SecurityGroupIds": p["security_group_ids"],
            "AutomaticFailoverEnabled": p["automatic_failover"],
            "MultiAZEnabled": p["multi_az"],
            "TransitEncryptionEnabled": p["transit_encryption"],
            "AtRestEncryptionEnabled": p["at_rest_encryption"],
            "KmsKeyId": p["kms_key_id"],
            "SnapshotRetentionLimit": p["snapshot_retention_limit"],
            "SnapshotWindow": p["snapshot_window"],
            "PreferredMaintenanceWindow": p["preferred_maintenance_window"],
            "AutoMinorVersionUpgrade": p["auto_minor_version_upgrade"],
            "NotificationTopicArn": p["notification_topic_arn"],
            "AuthToken": p["auth_token"],
        }
        request.update({k: v for k, v in optional.items() if v is not None})
        if p["tags"]:
            request["Tags"] = ansible_dict_to_boto3_tag_list(p["tags"])
        try:
            self.client.create_replication_group(aws_retry=True, **request)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to create replication group {self.group_id}")

    def modify(self, changes: dict[str, Any]) -> None:
        """Apply the changed modifiable settings in one ModifyReplicationGroup call."""
        request = {MODIFIABLE[k]: v for k, v in changes.items() if k in MODIFIABLE}
        if not request:
            return
        request["ApplyImmediately"] = self.params["apply_immediately"]
        try:
            self.client.modify_replication_group(
                ReplicationGroupId=self.group_id, aws_retry=True, **request
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to modify replication group {self.group_id}")

    def token_update(self, group: dict[str, Any]) -> str | None:
        """The AuthTokenUpdateStrategy to apply to an existing group, or None. A token cannot be
        read back: it is sent when the group has none, or when a strategy is asked for."""
        strategy = self.params["auth_token_update_strategy"]
        enabled = bool(group.get("AuthTokenEnabled"))
        if strategy == "DELETE":
            return strategy if enabled else None
        if strategy:
            return strategy
        if self.params["auth_token"] and not enabled:
            return "ROTATE"
        return None

    def update_token(self, strategy: str) -> None:
        """Add, rotate, set or remove the AUTH token (ElastiCache applies it immediately)."""
        request: dict[str, Any] = {"AuthTokenUpdateStrategy": strategy, "ApplyImmediately": True}
        if strategy != "DELETE":
            request["AuthToken"] = self.params["auth_token"]
        try:
            self.client.modify_replication_group(
                ReplicationGroupId=self.group_id, aws_retry=True, **request
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(
                e, msg=f"Failed to update the AUTH token of {self.group_id} ({strategy})"
            )

    def resize(self, have: int, want: int) -> None:
        """Add or remove replicas online; ElastiCache requires ApplyImmediately for this."""
        call = (
            self.client.increase_replica_count
            if want > have
            else self.client.decrease_replica_count
        )
        try:
            call(
                ReplicationGroupId=self.group_id,
                NewReplicaCount=want - 1,
                ApplyImmediately=True,
                aws_retry=True,
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(
                e, msg=f"Failed to change the node count of {self.group_id} from {have} to {want}"
            )

    def update_tags(self, arn: str, have: dict[str, str]) -> bool:
        """Bring tags in line with the options; return whether anything changed."""
        if self.params["tags"] is None:
            return False
        add, remove = compare_aws_tags(have, self.params["tags"], self.params["purge_tags"])
        if not (add or remove):
            return False
        if self.module.check_mode:
            return True
        try:
            if remove:
                self.client.remove_tags_from_resource(
                    ResourceName=arn, TagKeys=remove, aws_retry=True
                )
            if add:
                self.client.add_tags_to_resource(
                    ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(add), aws_retry=True
                )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to tag replication group {self.group_id}")
        return True

    def delete(self) -> None:
        """Delete the group, with a final snapshot when one is named."""
        request: dict[str, Any] = {"ReplicationGroupId": self.group_id}
        if self.params["final_snapshot_identifier"]:
            request["FinalSnapshotIdentifier"] = self.params["final_snapshot_identifier"]
        try:
            self.client.delete_replication_group(aws_retry=True, **request)
        except is_boto3_error_code("ReplicationGroupNotFoundFault"):
            return
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to delete replication group {self.group_id}")

    def wait(self, waiter_name: str) -> None:
        """Wait with the boto3 waiter, bounded by wait_timeout."""
        if not self.params["wait"]:
            return
        delay = 15
        attempts = max(1, self.params["wait_timeout"] // delay)
        try:
            self.client.client.get_waiter(waiter_name).wait(
                ReplicationGroupId=self.group_id,
                WaiterConfig={"Delay": delay, "MaxAttempts": attempts},
            )
        except botocore.exceptions.WaiterError as e:
            self.module.fail_json_aws(
                e, msg=f"Timed out waiting for {self.group_id} ({waiter_name})"
            )

    def wait_settled(self) -> None:
        """After a change the group may still report 'available' for a moment; poll for it."""
        if not self.params["wait"]:
            return
        deadline = time.monotonic() + self.params["wait_timeout"]
        time.sleep(1)
        while time.monotonic() < deadline:
            group = self.describe()
            if group is None or group.get("Status") == "available":
                return
            time.sleep(15)
        self.module.fail_json(msg=f"Timed out waiting for {self.group_id} to become available")


def result_of(manager: GroupManager, group: dict[str, Any] | None) -> dict[str, Any]:
    """Build the module's return values from a description."""
    if not group:
        return {"replication_group": {}}
    tags = manager.tags(group["ARN"]) if group.get("ARN") else {}
    out: dict[str, Any] = {"replication_group": camel_dict_to_snake_dict(group)}
    out["replication_group"]["tags"] = tags
    node_groups = group.get("NodeGroups") or [{}]
    for key, name in (
        ("PrimaryEndpoint", "primary_endpoint"),
        ("ReaderEndpoint", "reader_endpoint"),
    ):
        endpoint = node_groups[0].get(key)
        if endpoint:
            out[name] = {"address": endpoint.get("Address"), "port": endpoint.get("Port")}
    return out


def ensure_present(manager: GroupManager) -> None:
    """Create the group or converge an existing one."""
    module = manager.module
    group = manager.describe()
    desired = manager.desired()
    if group is None or group.get("Status") in GONE_STATUSES:
        if group is not None:
            module.fail_json(
                msg=f"Replication group {manager.group_id} is being deleted; retry later"
            )
        diff = {"before": {}, "after": desired}
        if not module.check_mode:
            manager.create()
            manager.wait("replication_group_available")
            group = manager.describe()
        module.exit_json(changed=True, diff=diff, **result_of(manager, group))

    if group.get("Status") != "available" and module.params["wait"] and not module.check_mode:
        # A group being created or modified refuses changes: let it settle first.
        manager.wait("replication_group_available")
        group = manager.describe() or group
    node = manager.primary_node(group)
    have = manager.observed(group, node)
    changes = {k: v for k, v in desired.items() if k in have and not manager.same(k, v, have[k])}
    frozen = sorted(k for k in changes if k in IMMUTABLE)
    for key in frozen:
        module.warn(
            f"{key} of {manager.group_id} is {have[key]!r}, {changes.pop(key)!r} requested: "
            "it cannot change after creation; replace the group to change it"
        )
    resize = changes.pop("num_cache_clusters", None)
    token = manager.token_update(group)
    current_tags = manager.tags(group["ARN"])
    tags_changed = manager.update_tags(group["ARN"], current_tags)
    changed = bool(changes) or resize is not None or tags_changed or token is not None
    diff_keys = sorted(set(changes) | ({"num_cache_clusters"} if resize is not None else set()))
    diff = {
        "before": {k: have.get(k) for k in diff_keys},
        "after": {k: desired.get(k) for k in diff_keys},
    }
    if token is not None:
        diff["before"]["auth_token_enabled"] = bool(group.get("AuthTokenEnabled"))
        diff["after"]["auth_token_enabled"] = token != "DELETE"
        diff["after"]["auth_token_update_strategy"] = token
    if tags_changed:
        diff["before"]["tags"] = current_tags
        diff["after"]["tags"] = module.params["tags"]
    if changed and not module.check_mode:
        if resize is not None:
            manager.resize(have["num_cache_clusters"], resize)
            manager.wait_settled()
        if changes:
            manager.modify(changes)
            manager.wait_settled()
        if token is not None:
            manager.update_token(token)
            manager.wait_settled()
        group = manager.describe()
    module.exit_json(changed=changed, diff=diff, **result_of(manager, group))


def ensure_absent(manager: GroupManager) -> None:
    """Delete the group if it exists."""
    module = manager.module
    group = manager.describe()
    if group is None:
        module.exit_json(changed=False, replication_group={})
    if group.get("Status") in GONE_STATUSES:
        if not module.check_mode:
            manager.wait("replication_group_deleted")
        module.exit_json(changed=False, replication_group={})
    diff = {"before": manager.observed(group, manager.primary_node(group)), "after": {}}
    if not module.check_mode:
        manager.delete()
        manager.wait("replication_group_deleted")
    module.exit_json(changed=True, diff=diff, replication_group={})


def main() -> None:
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        replication_group_id=dict(type="str", required=True, aliases=["name"]),
        description=dict(type="str"),
        engine=dict(type="str", choices=["redis", "valkey"], default="redis"),
        engine_version=dict(type="str"),
        cache_node_type=dict(type="str"),
        num_cache_clusters=dict(type="int"),
        preferred_cache_cluster_azs=dict(type="list", elements="str"),
        cache_parameter_group_name=dict(type="str"),
        cache_subnet_group_name=dict(type="str"),
        security_group_ids=dict(type="list", elements="str"),
        port=dict(type="int", default=6379),
        automatic_failover=dict(type="bool"),
        multi_az=dict(type="bool"),
        transit_encryption=dict(type="bool"),
        at_rest_encryption=dict(type="bool"),
        kms_key_id=dict(type="str"),
        snapshot_retention_limit=dict(type="int"),
        snapshot_window=dict(type="str"),
        preferred_maintenance_window=dict(type="str"),
        auto_minor_version_upgrade=dict(type="bool"),
        notification_topic_arn=dict(type="str"),
        auth_token=dict(type="str", no_log=True),
        auth_token_update_strategy=dict(type="str", choices=["ROTATE", "SET", "DELETE"]),
        apply_immediately=dict(type="bool", default=False),
        final_snapshot_identifier=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    group_id = module.params["replication_group_id"]
    if not re.fullmatch(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,39}(?<!-)", group_id):
        module.fail_json(
            msg=f"replication_group_id {group_id!r}: 1-40 letters, digits or hyphens, starting "
            "with a letter, no trailing or double hyphen"
        )
    count = module.params["num_cache_clusters"]
    if count is not None and not 1 <= count <= 6:
        module.fail_json(msg=f"num_cache_clusters must be between 1 and 6, not {count}")
    if module.params["automatic_failover"] and (count or 1) < 2:
        module.fail_json(msg="automatic_failover needs num_cache_clusters of at least 2")
    if module.params["multi_az"] and module.params["automatic_failover"] is False:
        module.fail_json(msg="multi_az needs automatic_failover")

    token = module.params["auth_token"]
    strategy = module.params["auth_token_update_strategy"]
    if token is not None and not re.fullmatch(r"[!#-.0-?A-~]{16,128}", token):
        module.fail_json(
            msg='auth_token must be 16-128 printable ASCII characters without spaces, @, " or /'
        )
    if strategy in ("ROTATE", "SET") and token is None:
        module.fail_json(msg=f"auth_token_update_strategy {strategy} needs auth_token")
    if strategy == "DELETE" and token is not None:
        module.fail_json(msg="auth_token_update_strategy DELETE takes no auth_token")
    if token is not None and module.params["transit_encryption"] is False:
        module.fail_json(msg="auth_token needs transit_encryption")

    manager = GroupManager(module)
    if module.params["state"] == "present":
        ensure_present(manager)
    else:
        ensure_absent(manager)


if __name__ == "__main__":
    main()
