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
* CreateDBInstance rejects a backup window that ends when the maintenance window starts (the
  design's 03:00-04:00 and sun:04:00-sun:05:00) as overlapping; AWS accepts windows that touch.
* ScheduleKeyDeletion and CancelKeyDeletion fail (500) when given a key ARN, which kms_key sends;
  AWS accepts an ID or an ARN.
* UpdateSecurityGroupRuleDescriptionsIngress and ...Egress answer an empty result; AWS answers
  Return=true, which ec2_security_group reads when a rule's description changes.

and two APIs moto lacks, which teardown.yml calls:

* DeleteCacheSubnetGroup (moto answers 500 "not implemented"): added, deleting the group.
* ListServiceSpecificCredentials (iam_user calls it before deleting a user): added; moto has no
  service-specific credentials, so the list is always empty (for an existing user).

Each patch wraps one moto method and changes only the behaviour above. Run as a script (same
arguments as moto_server) or import apply_fidelity_patches() before using moto in-process.
docs/provisioning.md lists these and the gaps that are not patched.
"""

from __future__ import annotations

import datetime
import functools
import sys
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


def apply_fidelity_patches() -> None:
    """Apply every patch; safe to call more than once."""
    _patch_rds_parameter_group_lookup()
    _patch_rds_parameter_group_defaults()
    _patch_rds_touching_windows()
    _patch_kms_deletion_by_arn()
    _patch_replication_group_node_count()
    _patch_replication_group_deletion()
    _add_delete_cache_subnet_group()
    _add_list_service_specific_credentials()
    _patch_rule_description_updates()


def main(argv: list[str] | None = None) -> None:
    """Start moto's server (moto_server's arguments) with the patches applied."""
    apply_fidelity_patches()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
