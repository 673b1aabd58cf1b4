"""Run moto's server with fidelity patches, so playbooks see what AWS would answer.

moto 5.2 differs from AWS in ways that break correct automation, not merely untested paths:

* DescribeDBParameterGroups with a name that does not exist answers an empty list; AWS raises
  DBParameterGroupNotFound, which amazon.aws.rds_instance_param_group relies on to create a group.
* A new DB parameter group has no parameters; AWS's carries the engine's defaults, and
  rds_instance_param_group only sets parameters it finds there. New postgres groups get the
  engine defaults of the parameters the platform sets (POSTGRES_DEFAULTS).
* CreateReplicationGroup (cluster mode disabled) ignores NumCacheClusters and creates a single
  node; AWS creates the primary and NumCacheClusters - 1 replicas.
* DeleteReplicationGroup leaves the group in status "deleting" for ever; AWS removes it, which
  the replication_group_deleted waiter waits for.
* ModifyReplicationGroup ignores AuthToken and AuthTokenUpdateStrategy: AUTH never turns on (or
  off) on an existing group, so a playbook adding a token would report a change on every run.
  ROTATE and SET store the token (AuthTokenEnabled true), DELETE removes it, as AWS does.
* CreateDBInstance rejects a backup window that ends when the maintenance window starts (the
  design's 03:00-04:00 and sun:04:00-sun:05:00) as overlapping; AWS accepts windows that touch.
* ScheduleKeyDeletion and CancelKeyDeletion fail (500) when given a key ARN, which kms_key sends;
  AWS accepts an ID or an ARN.
* UpdateSecurityGroupRuleDescriptionsIngress and ...Egress answer an empty result; AWS answers
  Return=true, which ec2_security_group reads when a rule's description changes.
* UpdateSecretVersionStage moves the AWSCURRENT label but GetSecretValue without a stage or
  version (and DescribeSecret) still answers the old version; AWS answers the version that holds
  AWSCURRENT, which the rotation runbook's staged rotation relies on.

* CreateLaunchTemplateVersion stores UserData as a plain string, so a group launching from
  that version (2 or later) crashes moto; AWS launches it. The user data is kept base64-typed.
* Instances a group launches from a launch template lack its IamInstanceProfile and
  MetadataOptions; AWS applies both. They are applied.
* Auto-scaling lifecycle hooks are stored and ignored, and CompleteLifecycleAction and
  RecordLifecycleActionHeartbeat answer "not implemented". AWS holds a new instance of a group
  with a launching hook in Pending:Wait and a leaving one with a terminating hook in
  Terminating:Wait until the action is completed or times out. Implemented (below), with the
  health replacements AWS makes: SetInstanceHealth Unhealthy, or an InService instance no longer
  running in EC2, makes the group terminate it and launch a replacement.
* CreateImage with TagSpecifications for `snapshot` (amazon.aws.ec2_ami tags the image and its
  snapshots) raises NotImplementedError (500); AWS tags the snapshots. They are tagged.
* PutBucketLogging accepts a target bucket's policy only when its logging statement names one
  Resource string and its Principal is a mapping: a Resource list (or a wildcard), or an earlier
  statement with Principal "*" (a TLS-only deny), makes moto refuse the logging or fail (500).
  AWS evaluates the policy; the platform's log bucket has both. Statements are matched as AWS
  would (lists, wildcards, any statement order).
* PutBucketAcl with grants on a bucket whose object ownership is BucketOwnerEnforced succeeds;
  AWS refuses it (AccessControlListNotSupported), which is why the platform's log bucket takes
  log delivery through its policy and community.aws.s3_logging (it grants an ACL) is not used.
* The bucket metrics configuration calls (request metrics) are not implemented: a Put is
  answered 200 and dropped, a Get answers an empty configuration, and a Delete deletes the
  bucket itself. Put, Get, List and Delete are implemented as AWS documents them (a Get or
  Delete of an unknown Id: NoSuchConfiguration).
* CreateDBInstanceReadReplica copies the source instance, its MultiAZ and DeletionProtection
  flags included; AWS makes a Single-AZ, unprotected replica unless asked otherwise (the replica
  of a Multi-AZ, protected primary would claim a standby it does not have, and refuse deletion).

and two APIs moto lacks, which teardown.yml calls:

* DeleteCacheSubnetGroup (moto answers 500 "not implemented"): added, deleting the group.
* ListServiceSpecificCredentials (iam_user calls it before deleting a user): added; moto has no
  service-specific credentials, so the list is always empty (for an existing user).

Each patch wraps one moto method and changes only the behaviour above. Run as a script (same
arguments as moto_server) or import apply_fidelity_patches() before using moto in-process.
docs/provisioning.md lists these and the gaps that are not patched.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import sys
import threading
import uuid
from typing import Any


def _patch_rds_parameter_group_lookup() -> None:
    from moto.rds.exceptions import DBParameterGroupNotFoundError
    from moto.rds.models import RDSBackend

    original = RDSBackend.describe_db_parameter_groups
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def describe_db_parameter_groups(self: Any, kwargs: dict[str, Any]) -> Any:
        found = original(self, kwargs)
        name = kwargs.get("db_parameter_group_name")
        if name and not found:
            raise DBParameterGroupNotFoundError(name)
        return found

    describe_db_parameter_groups._fidelity_patch = True  # type: ignore[attr-defined]
    RDSBackend.describe_db_parameter_groups = describe_db_parameter_groups


# What AWS lists for these parameters in a new postgres16 group (engine default parameters).
POSTGRES_DEFAULTS: dict[str, dict[str, Any]] = {
    "log_min_duration_statement": {
        "Description": "Sets the minimum execution time above which statements will be logged.",
        "DataType": "integer",
        "ApplyType": "dynamic",
        "AllowedValues": "-1-2147483647",
    },
    "max_connections": {
        "Description": "Sets the maximum number of concurrent connections.",
        "ParameterValue": "LEAST({DBInstanceClassMemory/9531392},5000)",
        "DataType": "integer",
        "ApplyType": "static",
        "AllowedValues": "6-8388607",
    },
    "rds.force_ssl": {
        "Description": "Force SSL connections.",
        "ParameterValue": "1",
        "DataType": "boolean",
        "ApplyType": "dynamic",
        "AllowedValues": "0,1",
    },
}


def _patch_rds_parameter_group_defaults() -> None:
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_db_parameter_group
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def create_db_parameter_group(self: Any, kwargs: dict[str, Any]) -> Any:
        group = original(self, kwargs)
        if (group.family or "").startswith("postgres"):
            group.update_parameters(
                {"ParameterName": name, "Source": "engine-default", "IsModifiable": True, **spec}
                for name, spec in POSTGRES_DEFAULTS.items()
            )
        return group

    create_db_parameter_group._fidelity_patch = True  # type: ignore[attr-defined]
    RDSBackend.create_db_parameter_group = create_db_parameter_group


def _patch_rds_read_replica_defaults() -> None:
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_db_instance_read_replica
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        replica = original(self, db_kwargs)
        if db_kwargs.get("multi_az") is None:
            replica.multi_az = False
        if db_kwargs.get("deletion_protection") is None:
            replica.deletion_protection = False
        return replica

    create_db_instance_read_replica._fidelity_patch = True  # type: ignore[attr-defined]
    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica


def _patch_replication_group_node_count() -> None:
    from moto.elasticache.models import ReplicationGroup

    original = ReplicationGroup._set_node_members_clusters_disabled
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def set_members(self: Any, *args: Any, **kwargs: Any) -> Any:
        count = kwargs.get("num_cache_clusters")
        if not kwargs.get("replicas_per_node_group") and count and count > 1:
            kwargs["replicas_per_node_group"] = count - 1
        return original(self, *args, **kwargs)

    set_members._fidelity_patch = True  # type: ignore[attr-defined]
    ReplicationGroup._set_node_members_clusters_disabled = set_members


def _patch_replication_group_deletion() -> None:
    from moto.elasticache.models import ElastiCacheBackend

    original = ElastiCacheBackend.delete_replication_group
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def delete_replication_group(self: Any, replication_group_id: str, **kwargs: Any) -> Any:
        group = original(self, replication_group_id=replication_group_id, **kwargs)
        self.replication_groups.pop(replication_group_id, None)
        return group

    delete_replication_group._fidelity_patch = True  # type: ignore[attr-defined]
    ElastiCacheBackend.delete_replication_group = delete_replication_group


def _patch_replication_group_auth_token() -> None:
    from moto.core.utils import utcnow
    from moto.elasticache.responses import ElastiCacheResponse

    original = getattr(ElastiCacheResponse, "modify_replication_group", None)
    if original is None or getattr(original, "_fidelity_patch", False):
        return  # a moto without ModifyReplicationGroup: nothing to correct

    @functools.wraps(original)
    def modify_replication_group(self: Any) -> Any:
        answer = original(self)
        strategy = self._get_param("AuthTokenUpdateStrategy")
        token = self._get_param("AuthToken")
        group = self.elasticache_backend.replication_groups[self._get_param("ReplicationGroupId")]
        if strategy == "DELETE":
            group.auth_token, group.auth_token_enabled = None, False
        elif token:
            group.auth_token, group.auth_token_enabled = token, True
            group.auth_token_last_modified_date = utcnow()
        return answer

    modify_replication_group._fidelity_patch = True  # type: ignore[attr-defined]
    ElastiCacheResponse.modify_replication_group = modify_replication_group


def _shrink(window: str) -> str:
    """HH:MM-HH:MM one minute shorter at each end: windows that only touch no longer do."""
    start, end = (datetime.datetime.strptime(t, "%H:%M") for t in window.split("-"))
    start += datetime.timedelta(minutes=1)
    end -= datetime.timedelta(minutes=1)
    return f"{start:%H:%M}-{end:%H:%M}"


def _patch_rds_touching_windows() -> None:
    import moto.rds.models as rds_models

    original = rds_models.valid_preferred_maintenance_window
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def valid_preferred_maintenance_window(maintenance_window: Any, backup_window: Any) -> Any:
        message = original(maintenance_window, backup_window)
        if message and "must not overlap" in message:
            try:
                if original(maintenance_window, _shrink(backup_window)) is None:
                    return None
            except ValueError:
                return message
        return message

    valid_preferred_maintenance_window._fidelity_patch = True  # type: ignore[attr-defined]
    rds_models.valid_preferred_maintenance_window = valid_preferred_maintenance_window


def _add_delete_cache_subnet_group() -> None:
    from moto.core.responses import EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound
    from moto.elasticache.responses import ElastiCacheResponse

    if hasattr(ElastiCacheResponse, "delete_cache_subnet_group"):
        return

    def delete_cache_subnet_group(self: Any) -> Any:
        name = self._get_param("CacheSubnetGroupName")
        groups = self.elasticache_backend.cache_subnet_groups
        if name not in groups:
            raise CacheSubnetGroupNotFound(name)
        del groups[name]
        return EmptyResult()

    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group


def _add_list_service_specific_credentials() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    if hasattr(IamResponse, "list_service_specific_credentials"):
        return

    def list_service_specific_credentials(self: Any) -> Any:
        self.backend.get_user(self._get_param("UserName"))  # NoSuchEntity for an unknown user
        return ActionResult({"ServiceSpecificCredentials": []})

    IamResponse.list_service_specific_credentials = list_service_specific_credentials


def _patch_kms_deletion_by_arn() -> None:
    from moto.kms.models import KmsBackend

    for name in ("schedule_key_deletion", "cancel_key_deletion"):
        original = getattr(KmsBackend, name)
        if getattr(original, "_fidelity_patch", False):
            continue

        def by_any_id(self: Any, key_id: str, *args: Any, _original: Any = original) -> Any:
            return _original(self, self.any_id_to_key_id(key_id), *args)

        functools.update_wrapper(by_any_id, original)
        by_any_id._fidelity_patch = True  # type: ignore[attr-defined]
        setattr(KmsBackend, name, by_any_id)


def _patch_secret_current_stage_move() -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage
    if getattr(original, "_fidelity_patch", False):
        return

    def update_secret_version_stage(self: Any, secret_id: str, version_stage: str,
                                    remove_from_version_id: str,
                                    move_to_version_id: str) -> Any:
        answer = original(self, secret_id, version_stage, remove_from_version_id,
                          move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].set_default_version_id(move_to_version_id)
        return answer

    functools.update_wrapper(update_secret_version_stage, original)
    update_secret_version_stage._fidelity_patch = True  # type: ignore[attr-defined]
    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


def _patch_rule_description_updates() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses.security_groups import SecurityGroups

    for name in ("update_security_group_rule_descriptions_ingress",
                 "update_security_group_rule_descriptions_egress"):
        original = getattr(SecurityGroups, name)
        if getattr(original, "_fidelity_patch", False):
            continue

        def update(self: Any, _original: Any = original) -> Any:
            _original(self)
            return ActionResult({"Return": True})

        update._fidelity_patch = True  # type: ignore[attr-defined]
        setattr(SecurityGroups, name, update)


def _patch_launch_template_version_user_data() -> None:
    from moto.core.types import Base64EncodedString
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    original = LaunchTemplate.create_version
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def create_version(self: Any, data: dict[str, Any], description: str) -> Any:
        user_data = data.get("UserData")
        if user_data is not None and not isinstance(user_data, Base64EncodedString):
            data = {**data, "UserData": parse_user_data(user_data)}
        return original(self, data, description)

    create_version._fidelity_patch = True  # type: ignore[attr-defined]
    LaunchTemplate.create_version = create_version


def _patch_asg_launch_template_settings() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.ec2.models.instances import MetadataOptions
    from moto.iam.exceptions import NotFoundException

    original = FakeAutoScalingGroup.replace_autoscaling_group_instances
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def replace_autoscaling_group_instances(self: Any, count_needed: int,
                                            propagated_tags: dict[str, str]) -> Any:
        known = {state.instance.id for state in self.instance_states}
        result = original(self, count_needed, propagated_tags)
        if self.ec2_launch_template is None:
            return result
        data = self.ec2_launch_template.get_version(self.launch_template_version).data
        profile = data.get("IamInstanceProfile") or {}
        for state in self.instance_states:
            if state.instance.id in known:
                continue
            if data.get("MetadataOptions"):
                state.instance.metadata_options = MetadataOptions(data["MetadataOptions"])
            if profile.get("Name") or profile.get("Arn"):
                # A profile IAM does not know: the instance launches without one.
                with contextlib.suppress(NotFoundException):
                    self.ec2_backend.associate_iam_instance_profile(
                        state.instance.id, iam_instance_profile_name=profile.get("Name"),
                        iam_instance_profile_arn=profile.get("Arn"))
        return result

    replace_autoscaling_group_instances._fidelity_patch = True  # type: ignore[attr-defined]
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances


# ---------------------------------------------------------------------------------------------
# Auto-scaling lifecycle hooks and health replacement (docs/provisioning.md, "Lifecycle hooks").
# Groups with no hook keep moto's own capacity code; the rest is reconciled here. Each open
# action lives on moto's InstanceState; timeouts are applied when a request arrives.

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
# Instances that count toward the group's desired capacity.
_COUNTED = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
_MAX_WAIT_SECONDS = 172800  # AWS's global timeout: 48 h, or 100 heartbeats if that is less
_lifecycle_lock = threading.RLock()


def _now() -> datetime.datetime:
    """The clock lifecycle timeouts are measured on (tests replace it to move time)."""
    return datetime.datetime.now(datetime.UTC)


class LifecycleAction:
    """One hook's hold on one instance, as AWS keeps it between the wait and its result.
    (A plain class: the module is also loaded unregistered, where dataclasses fail.)"""

    def __init__(self, hook: Any, transition: str) -> None:
        self.hook: str = hook.name
        self.transition = transition
        self.token = str(uuid.uuid4())
        self.heartbeat_timeout = int(hook.heartbeat_timeout)
        self.default_result: str = hook.default_result
        now = _now()
        self.deadline = now + datetime.timedelta(seconds=self.heartbeat_timeout)
        self.global_deadline = now + datetime.timedelta(
            seconds=min(_MAX_WAIT_SECONDS, 100 * self.heartbeat_timeout))

    @property
    def expires(self) -> datetime.datetime:
        return min(self.deadline, self.global_deadline)


def lifecycle_actions(state: Any) -> dict[str, LifecycleAction]:
    """The open lifecycle actions of an auto-scaling instance (moto InstanceState), by hook."""
    return state.__dict__.setdefault("_fidelity_lifecycle_actions", {})


def _hooks(backend: Any, group_name: str, transition: str | None = None) -> list[Any]:
    return [hook for hook in backend.lifecycle_hooks.values()
            if hook.auto_scaling_group_name == group_name
            and (transition is None or hook.lifecycle_transition == transition)]


def _uses_lifecycle(group: Any) -> bool:
    """Groups with hooks (or instances still held by one) follow AWS's lifecycle here."""
    return bool(_hooks(group.autoscaling_backend, group.name)) or any(
        lifecycle_actions(state) for state in group.instance_states)


def _hold(group: Any, state: Any, transition: str) -> bool:
    """Put the instance in Pending:Wait or Terminating:Wait if the group has such hooks."""
    hooks = _hooks(group.autoscaling_backend, group.name, transition)
    actions = lifecycle_actions(state)
    actions.clear()
    if not hooks:
        return False
    for hook in hooks:
        actions[hook.name] = LifecycleAction(hook, transition)
    state.lifecycle_state = "Pending:Wait" if transition == LAUNCHING else "Terminating:Wait"
    return True


def _terminate(group: Any, state: Any) -> None:
    """The instance leaves the group and EC2 terminates it (termination protection aside,
    as for AWS's own terminations)."""
    lifecycle_actions(state).clear()
    if state in group.instance_states:
        group.instance_states.remove(state)
    if state.instance.state not in ("shutting-down", "terminated"):
        state.instance.terminate()


def _take_out(group: Any, state: Any) -> None:
    """Start terminating: held in Terminating:Wait by terminating hooks, else terminated now."""
    if not _hold(group, state, TERMINATING):
        _terminate(group, state)


def _launch(group: Any, count: int) -> None:
    known = {state.instance.id for state in group.instance_states}
    group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
    for state in list(group.instance_states):
        if state.instance.id not in known and not _hold(group, state, LAUNCHING):
            state.lifecycle_state = "InService"


def _take_out_unhealthy(group: Any) -> bool:
    """AWS's health check: an InService instance that is not running, or was set Unhealthy,
    is terminated and replaced (unless ReplaceUnhealthy is suspended). Standby is not checked."""
    if "ReplaceUnhealthy" in group._suspended_processes:
        return False
    taken = False
    for state in list(group.instance_states):
        if state.lifecycle_state != "InService":
            continue
        if state.instance.state not in ("pending", "running"):
            state.health_status = "Unhealthy"
        if state.health_status == "Unhealthy":
            _take_out(group, state)
            taken = True
    return taken


def _reconcile(group: Any) -> None:
    """Bring a lifecycle group to its desired capacity, counting Pending:Wait instances and not
    Terminating ones; scale-in takes the oldest unprotected instances, as moto does. Load
    balancers are refreshed when an instance changed state."""
    before = [(state.instance.id, state.lifecycle_state) for state in group.instance_states]
    _take_out_unhealthy(group)
    counted = [state for state in group.instance_states if state.lifecycle_state in _COUNTED]
    target = group.desired_capacity or 0
    if len(counted) < target:
        _launch(group, target - len(counted))
    elif len(counted) > target:
        victims = [state for state in counted if not state.protected_from_scale_in]
        for state in victims[:len(counted) - target]:
            _take_out(group, state)
    if [(state.instance.id, state.lifecycle_state) for state in group.instance_states] != before:
        _refresh_load_balancers(group)


def _refresh_load_balancers(group: Any) -> None:
    backend = group.autoscaling_backend
    if group.name in backend.autoscaling_groups:
        backend.update_attached_elbs(group.name)
        backend.update_attached_target_groups(group.name)


def _heal(group: Any) -> None:
    if _uses_lifecycle(group):
        _reconcile(group)
    elif _take_out_unhealthy(group):
        group.set_desired_capacity(group.desired_capacity)


def _finish(group: Any, state: Any, hook: str, result: str) -> None:
    """Apply one hook's result: the instance proceeds when its last hook is done."""
    actions = lifecycle_actions(state)
    action = actions.pop(hook)
    if action.transition == LAUNCHING:
        if result == "ABANDON":
            _terminate(group, state)  # the group launches a replacement below
        elif not actions:
            state.lifecycle_state = "InService"
    else:
        if result == "ABANDON":
            actions.clear()  # skips the remaining terminating hooks; terminates all the same
        if not actions:
            _terminate(group, state)
    _reconcile(group)
    _refresh_load_balancers(group)


def advance_lifecycle(backend: Any) -> None:
    """Apply the default result of every lifecycle action whose timeout has passed, and the
    health replacements due; runs before every auto-scaling and EC2 request."""
    with _lifecycle_lock:
        now = _now()
        for group in list(backend.autoscaling_groups.values()):
            for state in list(group.instance_states):
                due = sorted((a for a in lifecycle_actions(state).values() if a.expires <= now),
                             key=lambda a: a.expires)
                for action in due:
                    if action.hook in lifecycle_actions(state):
                        _finish(group, state, action.hook, action.default_result)
            _heal(group)


def _find_action(backend: Any, group_name: str, hook: str, instance_id: str | None,
                 token: str | None) -> tuple[Any, Any]:
    from moto.autoscaling.exceptions import ValidationError

    if not instance_id and not token:
        raise ValidationError("Either InstanceId or LifecycleActionToken must be specified.")
    group = backend.autoscaling_groups.get(group_name)
    for state in group.instance_states if group else []:
        action = lifecycle_actions(state).get(hook)
        if action and (state.instance.id == instance_id if instance_id else action.token == token):
            return group, state
    if instance_id:
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")
    raise ValidationError(f"No active Lifecycle Action found with token {token}")


def _patch_group_capacity() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup

    original = FakeAutoScalingGroup.set_desired_capacity
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        if not _uses_lifecycle(self):
            original(self, new_capacity)
            return
        self.desired_capacity = self.min_size if new_capacity is None else new_capacity
        _reconcile(self)
        _refresh_load_balancers(self)  # as moto does after every change

    set_desired_capacity._fidelity_patch = True  # type: ignore[attr-defined]
    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity


def _patch_terminate_in_group() -> None:
    from moto.autoscaling.models import AutoScalingBackend, TerminateInstanceActivity

    original = AutoScalingBackend.terminate_instance
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
        state = next((s for g in self.autoscaling_groups.values() for s in g.instance_states
                      if s.instance.id == instance_id), None)
        if state is None or not _uses_lifecycle(state.auto_scaling_group):
            return original(self, instance_id, should_decrement)
        group = state.auto_scaling_group
        original_size = group.desired_capacity
        if not state.lifecycle_state.startswith("Terminating"):
            if should_decrement:
                group.desired_capacity -= 1
            _take_out(group, state)
            _reconcile(group)
            _refresh_load_balancers(group)
        return TerminateInstanceActivity(state.instance, original_size)

    terminate_instance._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingBackend.terminate_instance = terminate_instance


def _patch_set_instance_health() -> None:
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.set_instance_health
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def set_instance_health(self: Any, instance_id: str, health_status: str) -> None:
        original(self, instance_id, health_status)
        for group in list(self.autoscaling_groups.values()):
            if any(s.instance.id == instance_id for s in group.instance_states):
                _heal(group)

    set_instance_health._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingBackend.set_instance_health = set_instance_health


def _patch_standby_bounds() -> None:
    """EnterStandby that decrements the desired capacity below the group's minimum, and
    ExitStandby that increments it above the maximum, are refused with AWS's ValidationError
    (moto moves the instances and lets the capacity leave the group's bounds)."""
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend

    enter = AutoScalingBackend.enter_standby_instances
    leave = AutoScalingBackend.exit_standby_instances
    if getattr(enter, "_fidelity_patch", False):
        return

    def _refuse(group: Any, count: int, action: str) -> None:
        raise ValidationError(
            f"AutoScalingGroup {group.name} has min-size={group.min_size}, "
            f"max-size={group.max_size}, and desired-size={group.desired_capacity}. To {action} "
            f"{count} instances, please update the AutoScalingGroup sizes appropriately."
        )

    @functools.wraps(enter)
    def enter_standby_instances(self: Any, group_name: str, instance_ids: list[str],
                                should_decrement: bool) -> Any:
        group = self.autoscaling_groups[group_name]
        count = sum(1 for s in group.instance_states if s.instance.id in instance_ids)
        if should_decrement and group.desired_capacity - count < group.min_size:
            _refuse(group, count, "place into standby")
        return enter(self, group_name, instance_ids, should_decrement)

    @functools.wraps(leave)
    def exit_standby_instances(self: Any, group_name: str, instance_ids: list[str]) -> Any:
        group = self.autoscaling_groups[group_name]
        count = sum(1 for s in group.instance_states
                    if s.instance.id in instance_ids and s.lifecycle_state == "Standby")
        if group.desired_capacity + count > group.max_size:
            _refuse(group, count, "exit standby")
        return leave(self, group_name, instance_ids)

    enter_standby_instances._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingBackend.enter_standby_instances = enter_standby_instances
    AutoScalingBackend.exit_standby_instances = exit_standby_instances


def _patch_ec2_termination_notice() -> None:
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.notify_terminate_instances
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
        for group in list(self.autoscaling_groups.values()):
            gone = [s for s in group.instance_states if s.instance.id in instance_ids]
            if gone and _uses_lifecycle(group):
                for state in gone:
                    _terminate(group, state)  # already terminated in EC2: nothing to hold
                _reconcile(group)
                _refresh_load_balancers(group)
        original(self, instance_ids)  # groups without hooks: moto replaces InService ones

    notify_terminate_instances._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances


def _patch_group_deletion() -> None:
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.delete_auto_scaling_group
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups.get(group_name)
        hooks = {key for key, hook in self.lifecycle_hooks.items()
                 if hook.auto_scaling_group_name == group_name}
        if group is not None:
            for key in hooks:  # deleting a group deletes its hooks and open actions
                self.lifecycle_hooks.pop(key)
            for state in list(group.instance_states):
                if lifecycle_actions(state) or hooks:
                    _terminate(group, state)
        original(self, group_name)

    delete_auto_scaling_group._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


def _patch_hook_deletion() -> None:
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.delete_lifecycle_hook
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def delete_lifecycle_hook(self: Any, as_name: str, name: str) -> None:
        original(self, as_name, name)
        group = self.autoscaling_groups.get(as_name)
        for state in list(group.instance_states) if group else []:
            action = lifecycle_actions(state).get(name)
            if action:  # AWS completes open actions: ABANDON a launch, CONTINUE a termination
                _finish(group, state, name,
                        "ABANDON" if action.transition == LAUNCHING else "CONTINUE")

    delete_lifecycle_hook._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingBackend.delete_lifecycle_hook = delete_lifecycle_hook


def _add_complete_lifecycle_action() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    if hasattr(AutoScalingResponse, "complete_lifecycle_action"):
        return

    def complete_lifecycle_action(self: Any) -> Any:
        result = self._get_param("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
        hook = self._get_param("LifecycleHookName")
        group, state = _find_action(
            self.autoscaling_backend, self._get_param("AutoScalingGroupName"), hook,
            self._get_param("InstanceId"), self._get_param("LifecycleActionToken"))
        _finish(group, state, hook, result)
        return EmptyResult()

    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action


def _add_record_lifecycle_action_heartbeat() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    if hasattr(AutoScalingResponse, "record_lifecycle_action_heartbeat"):
        return

    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        hook = self._get_param("LifecycleHookName")
        _, state = _find_action(
            self.autoscaling_backend, self._get_param("AutoScalingGroupName"), hook,
            self._get_param("InstanceId"), self._get_param("LifecycleActionToken"))
        action = lifecycle_actions(state)[hook]
        action.deadline = _now() + datetime.timedelta(seconds=action.heartbeat_timeout)
        return EmptyResult()

    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat


def _patch_group_creation_hooks() -> None:
    """CreateAutoScalingGroup's LifecycleHookSpecificationList: the hooks exist before the
    group launches its first instances, as on AWS."""
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.create_auto_scaling_group
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def create_auto_scaling_group(self: Any) -> Any:
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        added = []
        for spec in self._get_param("LifecycleHookSpecificationList", []) or []:
            key = f"{name}_{spec['LifecycleHookName']}"
            if key not in backend.lifecycle_hooks:
                added.append(key)
            timeout = spec.get("HeartbeatTimeout")
            backend.create_lifecycle_hook(
                name=spec["LifecycleHookName"], as_name=name,
                transition=spec["LifecycleTransition"],
                timeout=int(timeout) if timeout is not None else None,
                result=spec.get("DefaultResult"))
        try:
            return original(self)
        except Exception:
            for key in added:
                backend.lifecycle_hooks.pop(key, None)
            raise

    create_auto_scaling_group._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group


def _patch_autoscaling_requests() -> None:
    """Every auto-scaling request first applies the timeouts due, under one lock."""
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.call_action
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lifecycle_lock:
            advance_lifecycle(self.autoscaling_backend)
            return original(self)

    call_action._fidelity_patch = True  # type: ignore[attr-defined]
    AutoScalingResponse.call_action = call_action


def _patch_ec2_requests() -> None:
    """Every EC2 request first applies the auto-scaling timeouts due (a held instance's EC2
    state changes when its hook times out)."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.ec2.responses import EC2Response

    original = EC2Response.call_action
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        backend = dict.get(autoscaling_backends[self.current_account], self.region)
        if backend is None:  # never create an auto-scaling backend for it
            return original(self)
        with _lifecycle_lock:  # TerminateInstances changes groups too
            advance_lifecycle(backend)
            return original(self)

    call_action._fidelity_patch = True  # type: ignore[attr-defined]
    EC2Response.call_action = call_action


LOGGING_SERVICE = "logging.s3.amazonaws.com"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def logging_allowed_by_policy(policy: dict[str, Any], partition: str, bucket: str,
                              prefix: str) -> bool:
    """Whether a bucket policy lets S3's logging service put objects under ``prefix``: an Allow
    statement for that principal (Principal "*" too), s3:PutObject (or a wildcard matching it)
    on a Resource matching the log objects' ARN. Conditions are not evaluated (the service
    meets aws:SourceArn and aws:SourceAccount when they name the source bucket)."""
    import fnmatch

    target = f"arn:{partition}:s3:::{bucket}/{prefix}"
    for statement in _listed(policy.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        if principal != "*" and (
            not isinstance(principal, dict)
            or LOGGING_SERVICE not in _listed(principal.get("Service", []))
        ):
            continue
        actions = _listed(statement.get("Action", []))
        if not any(fnmatch.fnmatchcase("s3:PutObject", a) for a in actions):
            continue
        resources = _listed(statement.get("Resource", []))
        # The log objects are written under the prefix: the statement must cover them.
        if any(fnmatch.fnmatchcase(target + "x", r) or r == target for r in resources):
            return True
    return False


def _patch_logging_target_policy() -> None:
    import json

    from moto.s3.models import FakeBucket

    original = FakeBucket._log_permissions_enabled_policy
    if getattr(original, "_fidelity_patch", False):
        return

    def log_permissions_enabled_policy(target_bucket: Any, target_prefix: str | None) -> bool:
        if not target_bucket.policy:
            return False
        policy = json.loads(target_bucket.policy.decode())
        return logging_allowed_by_policy(policy, target_bucket.partition, target_bucket.name,
                                         target_prefix or "")

    log_permissions_enabled_policy._fidelity_patch = True  # type: ignore[attr-defined]
    FakeBucket._log_permissions_enabled_policy = staticmethod(log_permissions_enabled_policy)


def _patch_acl_on_enforced_ownership() -> None:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import OWNER, S3Backend

    original = S3Backend.put_bucket_acl
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def put_bucket_acl(self: Any, bucket_name: str, acl: Any) -> None:
        bucket = self.get_bucket(bucket_name)
        if "BucketOwnerEnforced" in str(bucket.ownership_rule or ""):
            owner_only = all(
                grantee.id == OWNER and not grantee.uri
                for grant in (acl.grants if acl else [])
                for grantee in grant.grantees
            )
            if not owner_only:
                raise S3ClientError("AccessControlListNotSupported",
                                    "The bucket does not allow ACLs")
        return original(self, bucket_name, acl)

    put_bucket_acl._fidelity_patch = True  # type: ignore[attr-defined]
    S3Backend.put_bucket_acl = put_bucket_acl


def _metrics_configuration_from_xml(body: bytes) -> dict[str, Any]:
    """A PutBucketMetricsConfiguration body in boto3's shape (Id and Filter)."""
    import xmltodict

    parsed = xmltodict.parse(body)["MetricsConfiguration"]
    config: dict[str, Any] = {"Id": parsed["Id"]}
    raw = parsed.get("Filter")
    if not raw:
        return config
    tag = lambda t: {"Key": t["Key"], "Value": t.get("Value") or ""}  # noqa: E731
    found: dict[str, Any] = {}
    for key in ("Prefix", "AccessPointArn"):
        if key in raw:
            found[key] = raw[key] or ""
    if "Tag" in raw:
        found["Tag"] = tag(raw["Tag"])
    if "And" in raw:
        conjunction = {k: raw["And"][k] or "" for k in ("Prefix", "AccessPointArn")
                       if k in raw["And"]}
        if "Tag" in raw["And"]:
            conjunction["Tags"] = [tag(t) for t in _listed(raw["And"]["Tag"])]
        found["And"] = conjunction
    config["Filter"] = found
    return config


def _patch_bucket_metrics_configuration() -> None:
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    original = S3Response._bucket_response
    if getattr(original, "_fidelity_patch", False):
        return

    def missing(config_id: str) -> Exception:
        return S3ClientError("NoSuchConfiguration",
                             f"The specified configuration does not exist: {config_id}")

    @functools.wraps(original)
    def bucket_response(self: Any, request: Any, full_url: str) -> Any:
        querystring = self._get_querystring(request, full_url)
        if "metrics" not in querystring or request.method not in ("GET", "PUT", "DELETE"):
            return original(self, request, full_url)
        bucket_name = self.parse_bucket_name_from_url(request, full_url)
        bucket = self.backend.get_bucket(bucket_name)  # NoSuchBucket
        configs = bucket.__dict__.setdefault("_metrics_configurations", {})
        config_id = querystring.get("id", [None])[0]
        if request.method == "PUT":
            self.data["Action"] = "PutBucketMetricsConfiguration"
            configs[config_id] = _metrics_configuration_from_xml(self.body)
            return 200, {}, ""
        if request.method == "DELETE":
            self.data["Action"] = "DeleteBucketMetricsConfiguration"
            if configs.pop(config_id, None) is None:
                raise missing(config_id)
            return 204, {}, ""
        if config_id is None:
            self.data["Action"] = "ListBucketMetricsConfigurations"
            listed = [configs[k] for k in sorted(configs)]
            return self.serialized(ActionResult(
                {"IsTruncated": False, "MetricsConfigurationList": listed}))
        if config_id not in configs:
            raise missing(config_id)
        self.data["Action"] = "GetBucketMetricsConfiguration"
        return self.serialized(ActionResult({"MetricsConfiguration": configs[config_id]}))

    bucket_response._fidelity_patch = True  # type: ignore[attr-defined]
    S3Response._bucket_response = bucket_response


def _patch_create_image_snapshot_tags() -> None:
    """CreateImage with TagSpecifications for `snapshot` (amazon.aws.ec2_ami sends its tags
    for the image and its snapshots, as AWS accepts) raises NotImplementedError in moto: tag
    the image's snapshot instead, as AWS does."""
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image
    if getattr(original, "_fidelity_patch", False):
        return

    @functools.wraps(original)
    def create_image(self: Any, instance_id: str, name: str, description: str,
                     tag_specifications: list[dict[str, Any]]) -> Any:
        snapshot_tags = [tag for spec in tag_specifications
                         if spec["ResourceType"] == "snapshot" for tag in spec.get("Tags", [])]
        others = [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"]
        ami = original(self, instance_id, name, description, others)
        for tag in snapshot_tags:
            ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
        return ami

    create_image._fidelity_patch = True  # type: ignore[attr-defined]
    AmiBackend.create_image = create_image


def apply_fidelity_patches() -> None:
    """Apply every patch; safe to call more than once."""
    _patch_rds_parameter_group_lookup()
    _patch_rds_parameter_group_defaults()
    _patch_rds_touching_windows()
    _patch_rds_read_replica_defaults()
    _patch_kms_deletion_by_arn()
    _patch_replication_group_node_count()
    _patch_replication_group_deletion()
    _patch_replication_group_auth_token()
    _add_delete_cache_subnet_group()
    _add_list_service_specific_credentials()
    _patch_rule_description_updates()
    _patch_secret_current_stage_move()
    _patch_launch_template_version_user_data()
    _patch_asg_launch_template_settings()
    _patch_group_capacity()
    _patch_terminate_in_group()
    _patch_set_instance_health()
    _patch_standby_bounds()
    _patch_ec2_termination_notice()
    _patch_group_deletion()
    _patch_hook_deletion()
    _add_complete_lifecycle_action()
    _add_record_lifecycle_action_heartbeat()
    _patch_group_creation_hooks()
    _patch_autoscaling_requests()
    _patch_ec2_requests()
    _patch_create_image_snapshot_tags()
    _patch_logging_target_policy()
    _patch_acl_on_enforced_ownership()
    _patch_bucket_metrics_configuration()


def main(argv: list[str] | None = None) -> None:
    """Start moto's server (moto_server's arguments) with the patches applied."""
    apply_fidelity_patches()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
