"""Each tier's instance role, as provisioning (identity.yml) renders it for every environment,
stated as what it may and may not do: least privilege as behaviour, judged by a small IAM
evaluator (plugin_utils/iam_eval.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.iam_eval import allows
from ansible_collections.ideation.platform.plugins.plugin_utils.instance_policies import BOOT

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("prod", "staging", "dev")
TIERS = ("nginx", "api", "celery", "monitoring", "bastion")
ACCOUNT = "111122223333"
ZONE = "Z0123456789ABCDEFGHIJ"
POLICY_TASK = "Ensure each tier's instance role carries its least-privilege policy"


def _variables(env: str) -> dict[str, Any]:
    """The environment's group_vars/all, merged in Ansible's order, plus what earlier layers
    of provisioning register (the key's ARN, the zone)."""
    from ansible.parsing.dataloader import DataLoader

    loader = DataLoader()
    variables: dict[str, Any] = {}
    for path in sorted((ROOT / "inventories" / env / "group_vars" / "all").glob("*.yml")):
        variables.update(loader.load_from_file(str(path), trusted_as_template=True) or {})
    region = variables["aws_region"]
    variables["_aws_kms_arn"] = (
        f"arn:aws:kms:{region}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    variables["_aws_zone"] = {"zone_id": ZONE}
    return variables


def _render_policies(env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """identity.yml's policy task, templated as Ansible would: the policies its loop walks."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    identity = ROOT / "playbooks/provision/identity.yml"
    tasks = DataLoader().load_from_file(str(identity), trusted_as_template=True)
    task = next(t for t in tasks if t.get("name") == POLICY_TASK)
    variables = _variables(env)
    variables.update(task["vars"])
    templar = Templar(loader=DataLoader(), variables=variables)
    assert "_aws_instance_policies" in task["loop"]
    policies = templar.template(trust_as_template("{{ _aws_instance_policies }}"))
    facts = templar.template(trust_as_template("{{ _aws_instance_policy_facts }}"))
    secrets = templar.template(trust_as_template("{{ platform_secrets }}"))
    site = variables.get("platform_site_secrets")
    site = templar.template(trust_as_template("{{ platform_site_secrets }}")) if site else {}
    facts["_all_secrets"] = {**secrets, **site}
    return policies, facts


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def env(request: pytest.FixtureRequest) -> dict[str, Any]:
    policies, facts = _render_policies(request.param)
    region, prefix = facts["region"], facts["prefix"]
    return {
        "name": request.param,
        "policies": policies,
        "facts": facts,
        "secret": lambda name: f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-AbC123",
        "group": lambda tier, p=prefix: (
            f"arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:"
            f"0b6a4f1e-5c1d-4b8f-9a53-3d2f4b1c0e99:autoScalingGroupName/{p}-{tier}"
        ),
    }


def _sids(policy: dict[str, Any]) -> set[str]:
    return {s["Sid"] for s in policy["Statement"]}


def _change(
    env: dict[str, Any], tier: str, names: list[str], types: list[str], zone: str = ZONE
) -> bool:
    return allows(
        env["policies"][tier],
        "route53:ChangeResourceRecordSets",
        f"arn:aws:route53:::hostedzone/{zone}",
        {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
            "route53:ChangeResourceRecordSetsActions": ["UPSERT"] * len(names),
        },
    )


def test_every_environment_renders_a_policy_for_each_tier(env):
    assert set(env["policies"]) == set(TIERS)


@pytest.mark.parametrize("tier", TIERS)
def test_every_tier_can_read_its_release_and_the_outputs(env, tier):
    facts, policy = env["facts"], env["policies"][tier]
    region = facts["region"]
    ssm = f"arn:aws:ssm:{region}:{ACCOUNT}:parameter"
    assert allows(policy, "ssm:GetParameter", ssm + facts["release_parameter"])
    assert allows(policy, "ssm:GetParameter", f"{ssm}/ideation/{env['name']}/outputs")
    assert not allows(policy, "ssm:GetParameter", f"{ssm}/ideation/other/release/current")
    assert not allows(policy, "ssm:PutParameter", ssm + facts["release_parameter"])
    release = (
        f"arn:aws:s3:::{facts['artifacts_bucket']}/releases/20261206T113336Z-9d465a0c1b2e.tar.gz"
    )
    assert allows(policy, "s3:GetObject", release)
    assert not allows(policy, "s3:PutObject", release)
    assert not allows(policy, "s3:GetObject", f"arn:aws:s3:::{facts['artifacts_bucket']}/other")
    # The release is encrypted with the platform key: decrypted as S3 hands it over, never directly.
    key = facts["kms_key_arn"]
    assert allows(policy, "kms:Decrypt", key, {"kms:ViaService": f"s3.{region}.amazonaws.com"})
    assert not allows(policy, "kms:Decrypt", key)
    assert not allows(policy, "kms:Decrypt", key, {"kms:ViaService": f"ec2.{region}.amazonaws.com"})
    assert not allows(policy, "kms:Encrypt", key, {"kms:ViaService": f"s3.{region}.amazonaws.com"})
    boot_log = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/ideation/bootstrap:log-stream:i-0abc"
    assert allows(policy, "logs:PutLogEvents", boot_log)
    assert allows(policy, "ec2:DescribeInstances", "*")


@pytest.mark.parametrize("tier", TIERS)
def test_a_tier_completes_lifecycle_actions_of_its_own_group_only(env, tier):
    policy = env["policies"][tier]
    actions = (
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
        "autoscaling:SetInstanceHealth",
    )
    for action in actions:
        assert allows(policy, action, env["group"](tier)), action
        for other in TIERS:
            if other != tier:
                assert not allows(policy, action, env["group"](other)), (action, other)
        assert not allows(policy, action, env["group"](f"{tier}-canary")), action
    assert not allows(policy, "autoscaling:UpdateAutoScalingGroup", env["group"](tier))
    assert not allows(policy, "autoscaling:TerminateInstanceInAutoScalingGroup", env["group"](tier))


@pytest.mark.parametrize("tier", ["nginx", "bastion", "monitoring"])
def test_tiers_without_the_app_read_no_database_secret_and_no_documents(env, tier):
    policy, facts = env["policies"][tier], env["facts"]
    # Prometheus presents the API key on /metrics and logs in to Redis; nothing else of the app.
    denied = ["db_password", "db_master_password", "jwt_secret"]
    denied += [] if tier == "monitoring" else ["api_key", "redis_auth_token"]
    for key in denied:
        name = facts["_all_secrets"][key]
        assert not allows(policy, "secretsmanager:GetSecretValue", env["secret"](name)), key
    document = f"arn:aws:s3:::{facts['documents_bucket']}/ideas/42/attachment.pdf"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert not allows(policy, action, document), action


def test_the_bastion_gets_nothing_beyond_its_boot(env):
    assert _sids(env["policies"]["bastion"]) == set(BOOT)
    policy = env["policies"]["bastion"]
    assert not allows(policy, "secretsmanager:GetSecretValue", env["secret"]("anything"))
    assert not allows(policy, "autoscaling:DescribeAutoScalingGroups", "*")
    assert not allows(policy, "sns:Publish", "*")


@pytest.mark.parametrize("tier", ["nginx", "api", "celery", "monitoring", "bastion"])
def test_no_tier_reads_the_database_master_password(env, tier):
    """The bootstrap runs from the controller; an instance converging itself skips it."""
    master = env["facts"]["_all_secrets"]["db_master_password"]
    policy = env["policies"][tier]
    assert not allows(policy, "secretsmanager:GetSecretValue", env["secret"](master))


@pytest.mark.parametrize("tier", ["api", "celery"])
def test_app_tiers_read_their_secrets_by_exact_name_and_use_documents(env, tier):
    policy, facts = env["policies"][tier], env["facts"]
    db = facts["_all_secrets"]["db_password"]
    assert allows(policy, "secretsmanager:GetSecretValue", env["secret"](db))
    redis = facts["_all_secrets"]["redis_auth_token"]
    assert allows(policy, "secretsmanager:GetSecretValue", env["secret"](redis))
    # The bearer-token key is the API's alone.
    jwt = facts["_all_secrets"]["jwt_secret"]
    assert allows(policy, "secretsmanager:GetSecretValue", env["secret"](jwt)) == (tier == "api")
    assert not allows(policy, "secretsmanager:PutSecretValue", env["secret"](db))
    region = facts["region"]
    for other in (
        f"arn:aws:secretsmanager:{region}:444455556666:secret:{db}-AbC123",
        f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:{db}-AbC123",
        env["secret"](f"{db}-old"),  # another secret whose name starts with this one's
        env["secret"]("other/" + db),
    ):
        assert not allows(policy, "secretsmanager:GetSecretValue", other), other
    # Grafana's secrets belong to the monitoring host.
    grafana = facts["_all_secrets"].get("grafana_admin_password")
    if grafana:
        assert not allows(policy, "secretsmanager:GetSecretValue", env["secret"](grafana))
    document = f"arn:aws:s3:::{facts['documents_bucket']}/ideas/42/attachment.pdf"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(policy, action, document), action
    assert not allows(policy, "s3:DeleteBucket", f"arn:aws:s3:::{facts['documents_bucket']}")
    group = "/ideation/api/application" if tier == "api" else "/ideation/celery/worker"
    stream = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{group}:log-stream:host/api"
    assert allows(policy, "logs:PutLogEvents", stream)
    other = "/ideation/celery/worker" if tier == "api" else "/ideation/api/application"
    assert not allows(
        policy,
        "logs:PutLogEvents",
        f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{other}:log-stream:x",
    )


def test_only_nginx_may_change_records_and_only_acme_challenge_txt_in_the_zone(env):
    domain = env["facts"]["domain"]
    acme = f"_acme-challenge.{domain}"
    assert _change(env, "nginx", [acme], ["TXT"])
    assert _change(env, "nginx", [f"_acme-challenge.api.{domain}", acme], ["TXT"])
    for tier in ("api", "celery", "monitoring", "bastion"):
        assert not _change(env, tier, [acme], ["TXT"]), tier
    assert not _change(env, "nginx", [acme], ["TXT"], zone="ZOTHERZONE0001")
    assert not _change(env, "nginx", [domain], ["A"])
    assert not _change(env, "nginx", [acme], ["A"])
    assert not _change(env, "nginx", [f"www.{domain}"], ["TXT"])
    assert not _change(env, "nginx", ["_acme-challenge.example.org"], ["TXT"])
    # One bad change spoils the batch: every name and type must match (ForAllValues).
    assert not _change(env, "nginx", [acme, domain], ["TXT", "A"])
    assert allows(env["policies"]["nginx"], "route53:GetChange", "arn:aws:route53:::change/C1")
    assert not allows(env["policies"]["api"], "route53:ListHostedZones", "*")


def test_nginx_lists_the_api_group_but_reads_nothing_of_the_app(env):
    policy = env["policies"]["nginx"]
    assert allows(policy, "autoscaling:DescribeAutoScalingGroups", "*")
    assert not allows(policy, "autoscaling:SetDesiredCapacity", env["group"]("api"))
    assert not allows(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Ideation"})


# What ideation-upstream-sync calls (test_ratelimit_allowlist.py records it against moto).
UPSTREAM_SYNC_CALLS = {"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"}


def test_nginx_may_make_the_upstream_sync_s_calls_and_no_other_autoscaling_read(env):
    policy = env["policies"]["nginx"]
    for action in UPSTREAM_SYNC_CALLS:
        assert allows(policy, action, "*"), action
    granted = {
        action
        for statement in policy["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        if action.startswith("autoscaling:Describe")
    }
    assert granted == {"autoscaling:DescribeAutoScalingGroups"}


def test_monitoring_discovers_publishes_into_its_namespace_and_notifies(env):
    policy, facts = env["policies"]["monitoring"], env["facts"]
    namespace = facts["metrics_namespace"]
    assert allows(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})
    assert not allows(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/EC2"})
    assert not allows(policy, "cloudwatch:PutMetricData", "*")
    for tier in ("nginx", "api", "celery", "bastion"):
        assert not allows(
            env["policies"][tier],
            "cloudwatch:PutMetricData",
            "*",
            {"cloudwatch:namespace": namespace},
        ), tier
    assert allows(policy, "ec2:DescribeAvailabilityZones", "*")
    topic = f"arn:aws:sns:{facts['region']}:{ACCOUNT}:{facts['prefix']}-alerts"
    assert allows(policy, "sns:Publish", topic)
    assert not allows(policy, "sns:Publish", topic + "-other")
    assert not allows(env["policies"]["api"], "sns:Publish", topic)
    flower = facts["_all_secrets"].get("flower_password")
    if flower:  # prod and staging name the site secrets; dev's twin sets values directly
        assert allows(policy, "secretsmanager:GetSecretValue", env["secret"](flower))


LOG_GROUPS = {
    "nginx": {"/ideation/nginx/access", "/ideation/nginx/error"},
    "api": {"/ideation/api/application"},
    "celery": {"/ideation/celery/worker"},
    "monitoring": set(),
    "bastion": set(),
}


@pytest.mark.parametrize("tier", TIERS)
def test_a_tier_ships_logs_exactly_to_its_own_groups(env, tier):
    """Every group provisioning creates: a tier writes streams in its own groups (and the boot
    log), nowhere else; only the nginx tier's shipper reads its streams back (a pending batch)."""
    policy, region = env["policies"][tier], env["facts"]["region"]
    groups = set(_variables(env["name"])["aws_log_groups"]) | {"/ideation/other"}
    assert LOG_GROUPS[tier] <= groups
    for group in sorted(groups):
        stream = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{group}:log-stream:{tier}-i-0abc"
        own = group in LOG_GROUPS[tier]
        for action in ("logs:PutLogEvents", "logs:CreateLogStream"):
            assert allows(policy, action, stream) == (own or group == "/ideation/bootstrap"), (
                action,
                group,
            )
        assert allows(policy, "logs:GetLogEvents", stream) == (own and tier == "nginx"), group
        assert not allows(
            policy, "logs:CreateLogGroup", f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{group}"
        )
        assert not allows(policy, "logs:DeleteLogStream", stream)


# What Grafana's CloudWatch data source calls for the dashboards' RDS and ElastiCache panels
# (Grafana's documented metrics policy) and the region list of its query editor.
GRAFANA_CLOUDWATCH_READS = (
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmsForMetric",
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:GetInsightRuleReport",
    "ec2:DescribeRegions",
)


def test_monitoring_reads_cloudwatch_for_grafana_and_changes_nothing_there(env):
    policy = env["policies"]["monitoring"]
    for action in GRAFANA_CLOUDWATCH_READS:
        assert allows(policy, action, "*"), action
    alarm = f"arn:aws:cloudwatch:{env['facts']['region']}:{ACCOUNT}:alarm:ideation-x"
    for action in (
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:SetAlarmState",
        "cloudwatch:DisableAlarmActions",
        "cloudwatch:PutDashboard",
        "cloudwatch:PutMetricStream",
    ):
        assert not allows(policy, action, alarm) and not allows(policy, action, "*"), action
    # No logs queries, tag lookups or cross-account links: no dashboard uses them.
    for action in ("logs:StartQuery", "logs:GetLogEvents", "tag:GetResources", "oam:ListSinks"):
        assert not allows(policy, action, "*"), action
    # The reads are the monitoring host's alone.
    for tier in ("nginx", "api", "celery", "bastion"):
        assert not allows(env["policies"][tier], "cloudwatch:GetMetricData", "*"), tier
        assert not allows(env["policies"][tier], "cloudwatch:ListMetrics", "*"), tier
