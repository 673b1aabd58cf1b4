"""Check what an inventory's group_vars give site.yml's roles, without any host to configure.

`SiteProject` builds a stand-in of the project in a temporary directory, as an operator's
checkout would look after provisioning: inventories/<env>/ holds a static hosts.yml (one fake
host per group, all on the local connection) and a link to the real group_vars; .cache/outputs/
holds the provisioning outputs; build/images/ the release's archive; files/rds/ a CA bundle; and
an admin key pair. `run()` then plays tests/integration/provision/site_vars.yml against it:

- every role of site.yml runs, on the hosts site.yml runs it on, as a stand-in from roles/ of
  the project: the real role's meta/ (argument_specs.yml), defaults/ and vars/ (links) and no
  task, so Ansible's own argument spec validation (ansible.builtin.validate_argument_spec, with
  the role's defaults below the inventory, as in a real run) is all that runs;
- PgBouncer's real preflight runs on the api and celery hosts;
- the values (secrets only as SHA-256) are written to values.json;
- at -vvv, so that the leak check (leaks.py) sees every argument and result.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import leaks
import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).with_name("site_vars.yml")
GROUPS = ("nginx", "api", "celery", "monitoring", "bastion")
RELEASE = "1.4.2"
# The secrets the operator creates once (site.yml's platform_site_secrets), by their suffix.
SITE_SECRETS = (
    "grafana/admin_password",
    "grafana/secret_key",
    "pgbouncer/exporter_password",
    "flower/password",
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def host_groups(pattern: str) -> list[str]:
    """The inventory groups a play's hosts pattern (like all, api:celery, all:!bastion) names."""
    groups: list[str] = []
    for part in pattern.replace(",", ":").split(":"):
        names = GROUPS if part.lstrip("!") == "all" else (part.lstrip("!"),)
        if part.startswith("!"):
            groups = [g for g in groups if g not in names]
        else:
            groups += [g for g in names if g not in groups]
    return groups


def _site_plays(path: Path, import_vars: dict[str, Any]) -> list[tuple[dict, dict[str, Any]]]:
    """The plays of a playbook in order, following import_playbook (relative to the importing
    file, as Ansible resolves it), each with the vars its imports set."""
    plays: list[tuple[dict, dict[str, Any]]] = []
    for entry in yaml.safe_load(path.read_text()):
        if "ansible.builtin.import_playbook" in entry:
            target = path.parent / entry["ansible.builtin.import_playbook"]
            plays += _site_plays(target, {**import_vars, **entry.get("vars", {})})
        else:
            plays.append((entry, import_vars))
    return plays


def site_roles() -> dict[str, list[str]]:
    """The roles site.yml runs on each inventory group, in order, read from its playbooks (a
    templated hosts pattern rendered with the import's vars)."""
    roles: dict[str, list[str]] = {group: [] for group in GROUPS}
    for play, import_vars in _site_plays(REPO / "site.yml", {}):
        pattern = jinja2.Template(play["hosts"]).render(**import_vars)
        for role in play.get("roles", []):
            name = (role["role"] if isinstance(role, dict) else role).rsplit(".", 1)[-1]
            for group in host_groups(pattern):
                if name not in roles[group]:
                    roles[group].append(name)
    return roles


@dataclass
class Result:
    """One ansible-playbook run."""

    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 80) -> str:
        return "\n".join((self.stdout + "\n" + self.stderr).splitlines()[-lines:])


@dataclass
class SiteProject:
    """A project tree for one environment in `root`, with its fake hosts."""

    root: Path
    env: str
    outputs: dict[str, Any] | None
    files: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        inventory = self.root / "inventories" / self.env
        inventory.mkdir(parents=True)
        (inventory / "group_vars").symlink_to(REPO / "inventories" / self.env / "group_vars")
        hosts = {
            group: {"hosts": {f"{group}-test": {
                "ansible_connection": "local",
                "ansible_host": "127.0.0.1",
                "private_ip_address": f"10.0.10.{index + 10}",
                "ansible_python_interpreter": str(REPO / ".venv" / "bin" / "python"),
            }}}
            for index, group in enumerate(GROUPS)
        }
        (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
        self.inventory = inventory
        for role in dict.fromkeys(r for roles in site_roles().values() for r in roles):
            stand_in = self.root / "roles" / role
            (stand_in / "tasks").mkdir(parents=True)
            (stand_in / "tasks" / "main.yml").write_text("[]\n")
            for part in ("meta", "defaults", "vars"):
                if (REPO / "roles" / role / part).is_dir():
                    (stand_in / part).symlink_to(REPO / "roles" / role / part)
        if self.outputs is not None:
            self.write_outputs(self.outputs)

    def write_outputs(self, outputs: dict[str, Any]) -> None:
        path = self.root / ".cache" / "outputs" / f"{self.env}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(outputs))

    def supply_operator_files(self) -> None:
        """What the operator supplies on the controller: the admin key, the RDS CA bundle (a
        throwaway CA here) and the release's image archive (placeholder bytes)."""
        key = self.root / "keys" / f"ideation-{self.env}"
        key.parent.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "admin@test",
                        "-f", str(key)], check=True)
        self.files["admin_key"] = key.with_suffix(".pub")
        bundle = self.root / "files" / "rds" / "global-bundle.pem"
        bundle.parent.mkdir(parents=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=test RDS CA",
                        "-days", "1", "-keyout", str(self.root / "ca.key"), "-out", str(bundle)],
                       check=True, capture_output=True)
        self.files["ca_bundle"] = bundle
        archive = self.root / "build" / "images" / f"ideation-app_{RELEASE}.tar.gz"
        archive.parent.mkdir(parents=True)
        archive.write_bytes(b"not an image: the check never loads it")
        self.files["archive"] = archive

    def operator_vars(self) -> dict[str, Any]:
        """The required operator settings, given on the command line as an operator may."""
        return {
            "platform_acme_email": "ops@example.org",
            "platform_app_release": RELEASE,
            "platform_admin_public_key_file": str(self.files["admin_key"]),
        }

    def run(self, ansible: Any, *args: str, extra: dict[str, Any] | None = None,
            env: dict[str, str] | None = None) -> Result:
        """ansible-playbook site_vars.yml -vvv against this project, through the module's moto
        (ansible: tests/integration/provision/conftest.py's runner)."""
        values = {
            "site_roles": site_roles(),
            "site_values_file": str(self.root / "values.json"),
            **(extra or {}),
        }
        # Beside its roles/ (the stand-ins), which Ansible searches first.
        playbook = self.root / PLAYBOOK.name
        shutil.copyfile(PLAYBOOK, playbook)
        proc = subprocess.run(
            [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(playbook), "-vvv",
             "-i", str(self.inventory), *ansible.extra_vars(), "-e", json.dumps(values), *args],
            cwd=REPO, env={**ansible.env(), **(env or {})}, capture_output=True, text=True,
            timeout=900, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def values(self) -> dict[str, Any]:
        values = json.loads((self.root / "values.json").read_text())
        return {**values, **json.loads((self.root / "values-nginx.json").read_text())}


def template_vars(cwd: Path, inventory: Path, host: str, expressions: dict[str, str],
                  run_env: dict[str, str], *args: str) -> tuple[dict[str, Any], Result]:
    """Template Jinja expressions for one host of `inventory` (an ad-hoc debug run from `cwd`,
    whose ansible.cfg applies, with the JSON callback); their values by name, or {} when the
    task failed (the Result says why)."""
    pairs = ", ".join(f"{name!r}: ({expr})" for name, expr in expressions.items())
    message = "{{ {" + pairs + "} }}"
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible"), host, "-i", str(inventory),
         "-m", "ansible.builtin.debug", "-a", json.dumps({"msg": message}), *args],
        cwd=cwd, env={**run_env, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                       "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"},
        capture_output=True, text=True, timeout=300, check=False)
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode != 0:
        return {}, result
    start = proc.stdout.index("{")
    task = json.JSONDecoder().raw_decode(proc.stdout, start)[0]["plays"][0]["tasks"][0]
    return task["hosts"][host]["msg"], result


def create_site_secrets(moto: Any, prefix: str) -> dict[str, str]:
    """Create the site secrets as docs/provisioning.md tells the operator; return their values."""
    client = moto.client("secretsmanager")
    created = {}
    for suffix in SITE_SECRETS:
        value = secrets.token_urlsafe(32)
        client.create_secret(Name=f"{prefix}{suffix}", SecretString=value)
        created[f"{prefix}{suffix}"] = value
    return created


def aws_rds_with(env: str, max_connections: int) -> dict[str, Any]:
    """The environment's aws_rds with another max_connections (for -e, which replaces the dict)."""
    aws = yaml.safe_load((REPO / "inventories" / env / "group_vars/all/aws.yml").read_text())
    return {**aws["aws_rds"], "max_connections": max_connections}


def account_endpoints(moto: Any, env: str) -> dict[str, str]:
    """What provisioning created for `env`, as AWS (moto) describes it."""
    prefix = f"ideation-{env}"
    database = moto.client("rds").describe_db_instances(DBInstanceIdentifier=f"{prefix}-db")
    redis = moto.client("elasticache").describe_replication_groups(
        ReplicationGroupId=f"{prefix}-redis")["ReplicationGroups"][0]
    topics = [t["TopicArn"] for t in moto.client("sns").list_topics()["Topics"]
              if t["TopicArn"].endswith(f":{prefix}-alerts")]
    assert len(topics) == 1, topics
    return {
        "database": database["DBInstances"][0]["Endpoint"]["Address"],
        "redis": redis["NodeGroups"][0]["PrimaryEndpoint"]["Address"],
        "topic": topics[0],
    }


def flat(text: str) -> str:
    """Output with every run of white space as one space (the callback wraps long messages)."""
    return " ".join(text.split())


def assert_site_checks_passed(run: Result) -> None:
    """Every role passed its argument spec on every host of its groups, and PgBouncer's preflight
    on every api and celery host."""
    assert run.returncode == 0, run.tail(120)
    passed, role = set(), None
    for line in run.stdout.splitlines():
        if line.startswith("TASK ["):
            found = re.match(r"TASK \[(\w+) : Validating arguments against arg spec 'main'", line)
            role = found.group(1) if found else None
        elif role and (host := re.match(r"ok: \[(\S+)\]", line)):
            passed.add((role, host.group(1)))
    expected = {(role, f"{group}-test") for group, roles in site_roles().items() for role in roles}
    assert expected - passed == set(), run.tail(120)
    fits = re.findall(r"^ok: \[(\S+)\] =>\s+changed: false\s+msg: \d+ hosts x \d+ = \d+ server "
                      r"connections fit in \d+", run.stdout, re.MULTILINE)
    assert sorted(fits) == ["api-test", "celery-test"], run.tail(120)


def assert_no_secret_in(run: Result, values: list[str]) -> None:
    leaks.assert_no_secret_in(run.stdout + run.stderr, values)


def check_site_variables(project: SiteProject, ansible: Any, moto: Any, *, db_password: str,
                         db_master_password: str, site_secrets: dict[str, str],
                         max_connections: int,
                         fleet: int) -> dict[str, Any]:
    """Run the checks on `project` and assert that the roles get what the account holds: the RDS
    endpoint (not the db CNAME, which verify-full would reject), the Redis primary over verified
    TLS with its AUTH token, the alert topic, the bucket, the secrets of Secrets Manager, the
    operator's files; and that no secret value is in the output. Returns the values."""
    env = project.env
    prefix = "ideation/" if env == "prod" else f"ideation/{env}/"
    sm = moto.client("secretsmanager")
    jwt_secret, api_key = (sm.get_secret_value(SecretId=f"{prefix}{name}")["SecretString"]
                           for name in ("jwt/secret", "api/key"))
    run = project.run(ansible, extra=project.operator_vars())
    assert_site_checks_passed(run)
    redis_token = sm.get_secret_value(SecretId=f"{prefix}redis/auth_token")["SecretString"]
    secrets = [db_password, db_master_password, redis_token, jwt_secret, api_key,
               *site_secrets.values()]
    assert_no_secret_in(run, secrets)
    values = project.values()
    account = account_endpoints(moto, env)
    site = {suffix: site_secrets[prefix + suffix] for suffix in SITE_SECRETS}

    assert values["pgbouncer_server_host"] == account["database"]
    assert values["postgres_bootstrap_login_host"] == account["database"]
    assert values["bastion_forward_endpoints"]["database"][1] == account["database"]
    assert not values["pgbouncer_server_host"].startswith("db.")
    assert values["pgbouncer_server_port"] == 5432
    bundle = project.files["ca_bundle"].read_text().strip()
    assert values["pgbouncer_server_tls_ca_content"] == bundle
    redis_url = f"rediss://{account['redis']}:6379/0?ssl_cert_reqs=required"
    assert values["api_redis_url"] == values["celery_redis_url"] == redis_url
    assert values["prometheus_redis_address"] == f"rediss://{account['redis']}:6379"
    # Every Redis client sends the AUTH token of Secrets Manager, apart from the URL.
    assert values["api_redis_password_sha256"] == sha256(redis_token)
    assert values["celery_redis_password_sha256"] == sha256(redis_token)
    assert values["prometheus_redis_password_sha256"] == sha256(redis_token)
    assert values["alertmanager_sns_topic_arn"] == account["topic"]
    assert values["api_s3_bucket"] == values["celery_s3_bucket"] == f"ideation-documents-{env}"
    secret_id = f"{prefix}db/password"
    assert values["api_database_secret_id"] == values["celery_database_secret_id"] == secret_id
    assert values["prometheus_discovery"] == "ec2"

    assert values["pgbouncer_server_max_connections"] == max_connections
    assert values["pgbouncer_fleet_size"] == fleet
    assert values["pgbouncer_user_names"] == ["ideation_user"]
    assert values["pgbouncer_user_password_sha256"] == [sha256(db_password)]
    # The bootstrap logs in as the RDS master user and gives the application user its password;
    # PgBouncer and the apps know only the latter.
    assert values["postgres_bootstrap_login_user"] == "ideation_admin"
    assert values["postgres_bootstrap_login_password_sha256"] == sha256(db_master_password)
    assert values["postgres_bootstrap_user"] == "ideation_user"
    assert values["postgres_bootstrap_password_sha256"] == sha256(db_password)
    exporter = sha256(site["pgbouncer/exporter_password"])
    assert values["pgbouncer_exporter_password_sha256"] == exporter
    assert values["grafana_admin_password_sha256"] == sha256(site["grafana/admin_password"])
    assert values["grafana_secret_key_sha256"] == sha256(site["grafana/secret_key"])
    flower = site["flower/password"]
    assert values["celery_flower_basic_auth_sha256"] == [sha256(f"ideation:{flower}")]
    assert values["prometheus_celery_password_sha256"] == [sha256(flower)]
    # The API's keys: the app checks tokens and /metrics callers with them, Prometheus scrapes
    # the api job with the API key.
    assert values["api_jwt_secret_sha256"] == sha256(jwt_secret)
    assert values["api_key_sha256"] == sha256(api_key)
    assert values["prometheus_api_password_sha256"] == [sha256(api_key)]

    assert values["api_image"] == "ideation/app" and values["api_image_tag"] == RELEASE
    assert values["api_image_pull"] is False
    assert values["docker_images"] == [
        {"name": "ideation/app", "tag": RELEASE, "archive": str(project.files["archive"])}]
    assert values["docker_ecr_registries"] == []
    assert (values["nginx_tls_mode"], values["nginx_letsencrypt_challenge"]) == (
        "letsencrypt", "dns-01-route53")
    assert values["nginx_letsencrypt_email"] == "ops@example.org"
    # Never rate limited: the monitoring and bastion hosts' own addresses and loopback, not the
    # subnets they share with the API, Celery and nginx hosts (10.0.10.10 to .12 here).
    assert values["nginx_ratelimit_allowlist"] == [
        "10.0.10.13/32", "10.0.10.14/32", "127.0.0.0/8", "::1/128"]
    key = project.files["admin_key"].read_text().strip()
    assert values["common_operators"] == [{"name": "admin", "ssh_keys": [key], "sudo": True}]
    return values


def check_undersized_database(project: SiteProject, ansible: Any, max_connections: int,
                              message: str) -> None:
    """PgBouncer's preflight stops the run, with its numbers, when the database is too small."""
    run = project.run(ansible, "--tags", "preflight", extra={
        **project.operator_vars(), "aws_rds": aws_rds_with(project.env, max_connections)})
    assert run.returncode != 0, run.tail()
    assert flat(message) in flat(run.stdout), run.tail(60)
