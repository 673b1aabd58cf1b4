"""What site.yml's roles get from inventories/staging, and what a missing input says.

Production is checked against a real provisioning run in test_provision_prod.py (no second prod
run here; its outputs come from SSM, as any checkout's do). Staging's data stores are created in
this module's moto directly (the RDS instance, the Redis replication group, the alert topic and
the database secret, as provisioning names them) and its outputs file is written from what moto
answers, in outputs.yml's shape, with no SSM parameter: the inventory must fall back to the
file. site_vars.py builds the project and runs the checks.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import site_vars

pytestmark = pytest.mark.integration

ENV = "staging"
PREFIX = "ideation-staging"
SECRET_PREFIX = "ideation/staging/"


@pytest.fixture(scope="module")
def db_password(moto_server: Any) -> str:
    """The secrets provisioning generates (the database password, the JWT secret, the API key)."""
    client = moto_server.client("secretsmanager")
    password = secrets.token_urlsafe(30)
    client.create_secret(Name=f"{SECRET_PREFIX}db/password", SecretString=password)
    for name in ("jwt/secret", "api/key"):
        client.create_secret(Name=f"{SECRET_PREFIX}{name}", SecretString=secrets.token_urlsafe(40))
    return password


@pytest.fixture(scope="module")
def db_master_password(moto_server: Any) -> str:
    password = secrets.token_urlsafe(30)
    moto_server.client("secretsmanager").create_secret(
        Name=f"{SECRET_PREFIX}db/master_password", SecretString=password)
    return password


@pytest.fixture(scope="module")
def staging_outputs(moto_server: Any, db_master_password: str) -> dict[str, Any]:
    """Staging's data stores in moto, and the outputs provisioning would record for them."""
    moto_server.client("rds").create_db_instance(
        DBInstanceIdentifier=f"{PREFIX}-db", DBInstanceClass="db.t3.medium", Engine="postgres",
        EngineVersion="16.4", AllocatedStorage=100, DBName="ideation_db",
        MasterUsername="ideation_admin", MasterUserPassword=db_master_password, Port=5432)
    redis_token = secrets.token_urlsafe(40)
    moto_server.client("secretsmanager").create_secret(
        Name=f"{SECRET_PREFIX}redis/auth_token", SecretString=redis_token)
    moto_server.client("elasticache").create_replication_group(
        ReplicationGroupId=f"{PREFIX}-redis", ReplicationGroupDescription="staging",
        Engine="redis", CacheNodeType="cache.t4g.medium", NumCacheClusters=3,
        TransitEncryptionEnabled=True, AuthToken=redis_token)
    moto_server.client("sns").create_topic(Name=f"{PREFIX}-alerts")
    account = site_vars.account_endpoints(moto_server, ENV)
    return {
        "environment": ENV,
        "region": "us-east-1",
        "documents_bucket": f"ideation-documents-{ENV}",
        "secrets": {name: f"{SECRET_PREFIX}{name.replace('_', '/', 1)}"
                    for name in ("db_password", "jwt_secret", "api_key", "redis_auth_token")},
        "database": {"identifier": f"{PREFIX}-db", "address": account["database"], "port": 5432,
                     "name": "ideation_db", "user": "ideation_user"},
        "redis": {"id": f"{PREFIX}-redis", "primary_address": account["redis"],
                  "reader_address": "", "port": 6379, "tls": True},
        "alert_topic_arn": account["topic"],
    }


@pytest.fixture(scope="module")
def staging(staging_outputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
            ) -> site_vars.SiteProject:
    project = site_vars.SiteProject(tmp_path_factory.mktemp("staging"), ENV, staging_outputs)
    project.supply_operator_files()
    return project


def test_staging_roles_get_what_the_account_holds(staging, ansible, moto_server, db_password,
                                                  db_master_password):
    site_secrets = site_vars.create_site_secrets(moto_server, SECRET_PREFIX)
    # api and celery ASG maximums 5 + 5; max_connections 300 (aws.yml).
    site_vars.check_site_variables(staging, ansible, moto_server, db_password=db_password,
                                   db_master_password=db_master_password,
                                   site_secrets=site_secrets, max_connections=300, fleet=10)


def test_staging_pgbouncer_preflight_refuses_an_undersized_database(staging, ansible):
    site_vars.check_undersized_database(staging, ansible, 200, (
        "PgBouncer pools do not fit the server: 10 hosts x 25 server connections each (pool + "
        "reserve on the primary: ideation_db 15 + 5, ideation_ro 5 + 0) = 250, but "
        "max_connections 200 - headroom 10 leaves 190."))


PARAMETER = "/ideation/staging/outputs"
ENDPOINTS = {"db": "platform_database_address", "redis": "platform_redis_address",
             "topic": "platform_alert_topic_arn", "bucket": "api_s3_bucket"}


def test_ssm_outputs_win_over_a_stale_local_cache(staging_outputs, moto_server, ansible, tmp_path):
    """SSM is the truth (outputs.yml in group_vars): a checkout's cache from an earlier
    provisioning does not override it. Without the parameter the cache stands in, saying so."""
    stale = {**staging_outputs, "database": {**staging_outputs["database"],
                                             "address": "stale-db.example.com"}}
    project = site_vars.SiteProject(tmp_path, ENV, stale)
    ssm = moto_server.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Type="String", Value=json.dumps(staging_outputs))
    try:
        values, run = site_vars.template_vars(site_vars.REPO, project.inventory, "api-test",
                                              ENDPOINTS, ansible.env(), *ansible.extra_vars())
    finally:
        ssm.delete_parameter(Name=PARAMETER)
    assert values == {"db": staging_outputs["database"]["address"],
                      "redis": staging_outputs["redis"]["primary_address"],
                      "topic": staging_outputs["alert_topic_arn"],
                      "bucket": "ideation-documents-staging"}, run.tail()
    assert "read from the local cache" not in run.stdout + run.stderr

    values, run = site_vars.template_vars(site_vars.REPO, project.inventory, "api-test",
                                          ENDPOINTS, ansible.env(), *ansible.extra_vars())
    assert values["db"] == "stale-db.example.com", run.tail()
    assert (f"Provisioning outputs of staging read from the local cache {tmp_path}/.cache/outputs/"
            f"staging.json: SSM parameter {PARAMETER} gave nothing") in site_vars.flat(run.stdout)


# Each input the operator or provisioning supplies, and what its absence says (hints in site.yml).
MISSING = {
    "pgbouncer_server_host": "No provisioning outputs for staging: SSM parameter "
    "/ideation/staging/outputs (region us-east-1) is absent or could not be read (then a warning "
    "above says why), and there is no local cache at {root}/.cache/outputs/staging.json. Run "
    "ansible-playbook playbooks/provision.yml -i inventories/staging first (it writes both)",
    "pgbouncer_exporter_password": "Secrets Manager has no secret "
    "ideation/staging/pgbouncer/exporter_password (region us-east-1). Create the site secrets once",
    "grafana_admin_password": "Secrets Manager has no secret "
    "ideation/staging/grafana/admin_password",
    "api_image_tag": "Set platform_app_release, the release (image tag) the api and celery hosts "
    "run",
    "nginx_letsencrypt_email": "Set platform_acme_email, the contact address of the Let's Encrypt "
    "account",
    "common_operators": "No OpenSSH public key in ~/.ssh/ideation-staging.pub for admin, the "
    "account Ansible logs in as",
    "pgbouncer_server_tls_ca_content": "No RDS CA bundle (PEM certificates) at "
    "{root}/files/rds/global-bundle.pem: download "
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem there",
}


def test_missing_inputs_say_what_to_do(ansible, tmp_path):
    """A checkout with nothing supplied: no outputs, no site secrets (under a prefix of its own:
    the tests above created staging's), no admin key in ~/.ssh, no CA bundle, no release, no
    e-mail. Then outputs without the RDS endpoint (provisioning stopped early)."""
    project = site_vars.SiteProject(tmp_path, ENV, None)
    home = tmp_path / "home"
    home.mkdir()
    run = project.run(ansible, "--tags", "inputs", extra={
        "site_inputs": list(MISSING),
        "platform_secret_prefix": "ideation/staging-missing/",
    }, env={"HOME": str(home)})
    assert run.returncode == 0, run.tail(80)
    output = site_vars.flat(run.stdout)
    for variable, message in MISSING.items():
        if variable != "pgbouncer_server_host":  # the secrets' prefix, not the parameter's
            message = message.replace("ideation/staging/", "ideation/staging-missing/")
        expected = site_vars.flat(message.format(root=tmp_path))
        assert expected in output, f"{variable}: {expected!r} not in\n{run.tail(120)}"
    outputs = tmp_path / ".cache/outputs/staging.json"
    outputs.parent.mkdir(parents=True)
    outputs.write_text(json.dumps({"database": {"address": "", "port": 5432}}))
    run = project.run(ansible, "--tags", "inputs", extra={"site_inputs": ["pgbouncer_server_host"]})
    assert "The outputs have no RDS endpoint: provisioning stopped before it" in site_vars.flat(
        run.stdout), run.tail(60)
