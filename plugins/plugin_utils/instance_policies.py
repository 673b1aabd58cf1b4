"""Each tier's instance role policy, generated from one table of what the tier needs and why.

``GRANTS`` says what a grant allows (actions, resources as templates over the environment's
facts, conditions) and why; ``TIERS`` says which grants each tier gets, and ``TIER_SECRETS`` /
``TIER_LOG_GROUPS`` which of the environment's secrets and log groups. ``tier_policy`` renders
one tier's policy document; ``tier_policies`` every tier's. Read the table to review who may
do what (docs/provisioning.md, "Identity"). No Ansible import: the filter wrapper
(``instance_policies``) turns ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.ideation.platform.plugins.plugin_utils.echo import echo

BOOTSTRAP_LOG_GROUP = "/ideation/bootstrap"
# An inline role policy may hold at most 10,240 characters (whitespace excluded).
POLICY_SIZE_LIMIT = 10240
_KMS_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[A-Za-z0-9-]+"
)
# Names that end up inside ARNs: no IAM wildcard (* ?) and no policy variable (${...}) may slip in.
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]+")
_ZONE_ID = re.compile(r"(/hostedzone/)?(?P<id>[A-Z0-9]{1,32})")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass(frozen=True)
class Grant:
    """One policy statement: what it allows, on which resources, under which condition, and why.

    Templates are ``str.format`` strings over the facts (``Facts.fields``). A grant with ``each``
    (``secrets`` or ``log_groups``) repeats its resources for every item of the tier's list as
    ``{item}``, and is left out when the tier's list is empty.
    """

    why: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    each: str | None = None


GRANTS: dict[str, Grant] = {
    # --- Boot converge: every tier -------------------------------------------------------------
    "ReadReleasePointer": Grant(
        "Boot converge reads which release the environment runs (the pointer deploy and rollback"
        " move) and provisioning's outputs (endpoints, bucket and secret names; no values).",
        ("ssm:GetParameter",),
        (
            "arn:{partition}:ssm:{region}:{account}:parameter{release_parameter}",
            "arn:{partition}:ssm:{region}:{account}:parameter{outputs_parameter}*",
        ),
    ),
    "GetRelease": Grant(
        "Boot converge downloads the release artifact (collection, variables, wheels).",
        ("s3:GetObject",),
        ("arn:{partition}:s3:::{artifacts_bucket}/releases/*",),
    ),
    "DecryptViaServices": Grant(
        "The release objects and the secrets are encrypted with the platform key: decrypt only"
        " as S3, SSM or Secrets Manager hand data over, never a ciphertext of one's own.",
        ("kms:Decrypt",),
        ("{kms_key_arn}",),
        {
            "StringEquals": {
                "kms:ViaService": [
                    "s3.{region}.amazonaws.com",
                    "ssm.{region}.amazonaws.com",
                    "secretsmanager.{region}.amazonaws.com",
                ]
            }
        },
    ),
    "WriteBootLog": Grant(
        "A failed boot converge ships its cloud-init log before it abandons the launch.",
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        ("arn:{partition}:logs:{region}:{account}:log-group:{bootstrap_log_group}:*",),
    ),
    "DescribeSelf": Grant(
        "The aws_ec2 inventory limited to the instance itself (its tags make its groups);"
        " EC2's Describe calls cannot be scoped to a resource.",
        ("ec2:DescribeInstances", "ec2:DescribeTags"),
    ),
    "CompleteOwnLifecycle": Grant(
        "The instance holds and completes its own launching and terminating hooks and reports"
        " itself unhealthy, on its own auto-scaling group only.",
        (
            "autoscaling:CompleteLifecycleAction",
            "autoscaling:RecordLifecycleActionHeartbeat",
            "autoscaling:SetInstanceHealth",
        ),
        (
            "arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*"
            ":autoScalingGroupName/{group}",
        ),
    ),
    # --- Application data ----------------------------------------------------------------------
    "Documents": Grant(
        "The API stores and serves idea attachments (presigned with this role), the workers"
        " process them (design section 10). SSE-S3: no KMS key involved.",
        ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
        ("arn:{partition}:s3:::{documents_bucket}/*",),
    ),
    "ReadSecrets": Grant(
        "The secrets the tier's services read on the host at converge time (TIER_SECRETS), by"
        " exact name: Secrets Manager appends six random characters to a secret's ARN.",
        ("secretsmanager:GetSecretValue",),
        ("arn:{partition}:secretsmanager:{region}:{account}:secret:{item}-??????",),
        each="secrets",
    ),
    "ShipLogs": Grant(
        "The tier's shippers (Docker's awslogs driver on api and celery, ideation-log-shipper on"
        " nginx) send to the tier's log groups (TIER_LOG_GROUPS); they create streams, never"
        " groups.",
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        ("arn:{partition}:logs:{region}:{account}:log-group:{item}:*",),
        each="log_groups",
    ),
    "VerifyShippedLogs": Grant(
        "ideation-log-shipper reads back its stream over the time window of a batch whose put"
        " got no answer (a crash or a timeout) and sends it again only if it is not there"
        " (plugin_utils/log_shipper.py): no line twice. Its own tier's groups only.",
        ("logs:GetLogEvents",),
        ("arn:{partition}:logs:{region}:{account}:log-group:{item}:*",),
        each="log_groups",
    ),
    # --- nginx ---------------------------------------------------------------------------------
    "DiscoverApiGroup": Grant(
        "The upstream sync service lists the instances of the api group (the upstream list) and"
        " of the monitoring and bastion groups (the rate-limit allowlist); their addresses come"
        " from ec2:DescribeInstances (DescribeSelf). Describe calls cannot be scoped.",
        ("autoscaling:DescribeAutoScalingGroups",),
    ),
    "AcmeLookup": Grant(
        "certbot's dns-route53 plugin finds the zone and waits for its change to propagate;"
        " neither call can be scoped to one zone.",
        ("route53:ListHostedZones", "route53:GetChange"),
    ),
    "AcmeChallenge": Grant(
        "certbot answers DNS-01 challenges (one certificate for a fleet behind one name): TXT"
        " records named _acme-challenge under the platform's domain, in its zone, and nothing"
        " else. ForAllValues: every change of a batch must match.",
        ("route53:ChangeResourceRecordSets",),
        ("arn:{partition}:route53:::hostedzone/{hosted_zone_id}",),
        {
            "ForAllValues:StringLike": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                    "_acme-challenge.{domain}",
                    "_acme-challenge.*.{domain}",
                ]
            },
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
                "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
            },
        },
    ),
    # --- monitoring ----------------------------------------------------------------------------
    "DiscoverTargets": Grant(
        "Prometheus's ec2_sd_configs find scrape targets by tag (DescribeInstances) and label"
        " them with their zone (DescribeAvailabilityZones); neither can be scoped.",
        ("ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"),
    ),
    "PublishMetrics": Grant(
        "The CloudWatch publisher sends queue depth, error rate and memory use that the scaling"
        " policies and alarms read; into the platform's namespace only.",
        ("cloudwatch:PutMetricData",),
        ("*",),
        {"StringEquals": {"cloudwatch:namespace": "{metrics_namespace}"}},
    ),
    "ReadCloudWatchMetrics": Grant(
        "Grafana's CloudWatch data source (RDS and ElastiCache panels) reads metrics and alarms"
        " with the instance role: the metrics actions of Grafana's documented policy, and the"
        " region list of its query editor. None takes a resource narrower than *. Left out:"
        " Logs Insights, tag lookups and cross-account links, which no dashboard uses.",
        (
            "cloudwatch:DescribeAlarmsForMetric",
            "cloudwatch:DescribeAlarmHistory",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListMetrics",
            "cloudwatch:GetMetricData",
            "cloudwatch:GetInsightRuleReport",
            "ec2:DescribeRegions",
        ),
    ),
    "NotifyAlerts": Grant(
        "Alertmanager's SNS receiver publishes to the platform's alert topic.",
        ("sns:Publish",),
        ("arn:{partition}:sns:{region}:{account}:{alert_topic}",),
    ),
}

BOOT = (
    "ReadReleasePointer",
    "GetRelease",
    "DecryptViaServices",
    "WriteBootLog",
    "DescribeSelf",
    "CompleteOwnLifecycle",
)
# Which grants each tier gets. Left out on purpose: documents and secrets for nginx and the
# bastion; Route 53 for all but nginx; metrics for api and celery (the monitoring host publishes
# every platform metric, the memory of each group included, from Prometheus).
TIERS: dict[str, tuple[str, ...]] = {
    "nginx": (
        *BOOT,
        "DiscoverApiGroup",
        "AcmeLookup",
        "AcmeChallenge",
        "ShipLogs",
        "VerifyShippedLogs",
    ),
    "api": (*BOOT, "Documents", "ReadSecrets", "ShipLogs"),
    "celery": (*BOOT, "Documents", "ReadSecrets", "ShipLogs"),
    "monitoring": (
        *BOOT,
        "ReadSecrets",
        "DiscoverTargets",
        "PublishMetrics",
        "ReadCloudWatchMetrics",
        "NotifyAlerts",
    ),
    "bastion": BOOT,
}
# Keys of the secrets mapping (platform_secrets and platform_site_secrets) each tier reads, as
# inventories/*/group_vars/all/site.yml hands them to the roles:
#   db_password: the application user's password: PgBouncer's user and the apps' database login
#     (pgbouncer_users, api/celery_database_secret_id).
#   redis_auth_token: Redis AUTH for the apps and the Redis exporter.
#   jwt_secret, api_key: the API's bearer-token key and the key on its /metrics, which
#     Prometheus presents.
#   pgbouncer_exporter_password: the exporter's login to PgBouncer, on both app tiers.
#   flower_password: Flower's basic auth on the workers; Prometheus scrapes Flower with it.
#   grafana_*: Grafana's admin password and cookie-signing key.
# db_master_password is no tier's: the database bootstrap runs from the controller (site.yml,
# deploy.yml, db-restore.yml); an instance converging itself skips it (playbooks/api.yml).
TIER_SECRETS: dict[str, tuple[str, ...]] = {
    "nginx": (),
    "api": (
        "db_password",
        "redis_auth_token",
        "jwt_secret",
        "api_key",
        "pgbouncer_exporter_password",
    ),
    "celery": ("db_password", "redis_auth_token", "pgbouncer_exporter_password", "flower_password"),
    "monitoring": (
        "redis_auth_token",
        "api_key",
        "grafana_admin_password",
        "grafana_secret_key",
        "flower_password",
    ),
    "bastion": (),
}
# Log groups a tier's services write: site.yml's api/celery_log_options (Docker's awslogs), and
# playbooks/nginx.yml's log_shipper_sources (ideation-log-shipper, nginx's access and error logs).
TIER_LOG_GROUPS: dict[str, tuple[str, ...]] = {
    "nginx": ("/ideation/nginx/access", "/ideation/nginx/error"),
    "api": ("/ideation/api/application",),
    "celery": ("/ideation/celery/worker",),
    "monitoring": (),
    "bastion": (),
}

_REQUIRED = (
    "kms_key_arn",
    "region",
    "prefix",
    "release_parameter",
    "outputs_parameter",
    "artifacts_bucket",
    "documents_bucket",
    "metrics_namespace",
    "alert_topic",
    "domain",
)


@dataclass(frozen=True)
class Facts:
    """The environment's facts the templates read, checked once."""

    fields: Mapping[str, str]
    secrets: Mapping[str, str]
    groups: Mapping[str, str]


def _text(facts: Mapping[str, Any], key: str) -> str:
    value = facts.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"facts.{key} must be a non-empty string, got {echo(value)}")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"{what} must be a name of letters, digits and /_+=.@- (no wildcard), got {echo(value)}"
        )
    return value


def _parameter(value: str, what: str) -> str:
    """An SSM parameter name as it appears in its ARN (``parameter/a/b``)."""
    name = _name(value, what)
    return name if name.startswith("/") else "/" + name


def check_facts(facts: Mapping[str, Any]) -> Facts:
    """Validate the facts and derive partition and account from the KMS key's ARN."""
    if not isinstance(facts, Mapping):
        raise ValueError(f"facts must be a mapping, got {type(facts).__name__}")
    missing = [key for key in _REQUIRED if key not in facts]
    if missing:
        raise ValueError(f"facts lack {', '.join(missing)}")
    arn = _text(facts, "kms_key_arn")
    match = _KMS_ARN.fullmatch(arn)
    if not match:
        raise ValueError(f"facts.kms_key_arn is not a KMS key ARN: {echo(arn)}")
    region = _text(facts, "region")
    if match["region"] != region:
        raise ValueError(f"facts.kms_key_arn is in {match['region']}, not in region {region}")
    fields = {key: _name(_text(facts, key), f"facts.{key}") for key in _REQUIRED[1:]}
    fields["release_parameter"] = _parameter(fields["release_parameter"], "release_parameter")
    fields["outputs_parameter"] = _parameter(fields["outputs_parameter"], "outputs_parameter")
    domain = fields["domain"].lower().rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"facts.domain is not a DNS name: {echo(fields['domain'])}")
    fields["domain"] = domain
    zone = facts.get("hosted_zone_id") or ""
    zone_match = _ZONE_ID.fullmatch(zone) if isinstance(zone, str) else None
    if zone and not zone_match:
        raise ValueError(f"facts.hosted_zone_id is not a Route 53 zone id: {echo(zone)}")
    fields.update(
        kms_key_arn=arn,
        partition=match["partition"],
        account=match["account"],
        hosted_zone_id=zone_match["id"] if zone_match else "",
        bootstrap_log_group=_name(
            facts.get("bootstrap_log_group", BOOTSTRAP_LOG_GROUP), "facts.bootstrap_log_group"
        ),
    )
    secrets = facts.get("secrets", {})
    groups = facts.get("groups", {})
    for what, mapping in (("secrets", secrets), ("groups", groups)):
        if not isinstance(mapping, Mapping):
            raise ValueError(f"facts.{what} must be a mapping, got {type(mapping).__name__}")
    return Facts(
        fields=fields,
        secrets={str(k): _name(v, f"facts.secrets.{k}") for k, v in secrets.items()},
        groups={str(k): _name(v, f"facts.groups.{k}") for k, v in groups.items()},
    )


def _format(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, Mapping):
        return {key: _format(item, values) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_format(item, values) for item in value]
    return value


def _items(tier: str, each: str, facts: Facts) -> list[str]:
    if each == "log_groups":
        return [_name(name, "log group") for name in TIER_LOG_GROUPS[tier]]
    # A secret a tier reads but this environment does not name (dev has no site secrets) is
    # simply not granted: the consumer then fails on its missing value, not on a denial.
    return [facts.secrets[key] for key in TIER_SECRETS[tier] if key in facts.secrets]


def tier_policy(tier: str, facts: Mapping[str, Any] | Facts) -> dict[str, Any]:
    """The policy document of ``tier``'s instance role in the environment ``facts`` describe."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {echo(tier)}; tiers: {', '.join(TIERS)}")
    checked = facts if isinstance(facts, Facts) else check_facts(facts)
    group = checked.groups.get(tier) or f"{checked.fields['prefix']}-{tier}"
    values = {**checked.fields, "group": _name(group, f"facts.groups.{tier}")}
    if "AcmeChallenge" in TIERS[tier] and not values["hosted_zone_id"]:
        raise ValueError(
            f"the {tier} tier changes records in the platform's zone: facts.hosted_zone_id is empty"
        )
    statements = []
    for sid in TIERS[tier]:
        grant = GRANTS[sid]
        if grant.each:
            items = _items(tier, grant.each, checked)
            if not items:
                continue
            resources = [
                r.format_map({**values, "item": i}) for i in items for r in grant.resources
            ]
        else:
            resources = [r.format_map(values) for r in grant.resources]
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": sorted(grant.actions),
            "Resource": resources[0] if len(resources) == 1 else resources,
        }
        if grant.condition:
            statement["Condition"] = _format(grant.condition, values)
        statements.append(statement)
    document = {"Version": "2012-10-17", "Statement": statements}
    size = len(json.dumps(document, separators=(",", ":")))
    if size > POLICY_SIZE_LIMIT:
        raise ValueError(
            f"the {tier} tier's policy has {size} characters, more than IAM's {POLICY_SIZE_LIMIT}"
        )
    return document


def tier_policies(tiers: list[str], facts: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every named tier's policy document, keyed by tier."""
    checked = check_facts(facts)
    return {tier: tier_policy(tier, checked) for tier in tiers}
