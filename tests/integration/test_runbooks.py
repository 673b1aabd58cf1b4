"""The runbooks of playbooks/runbooks/ (docs/runbooks/), run for real.

- db-restore.yml against moto (the moto_server fixture): a point-in-time restore into a new
  instance, its refusals, the cut-over by renaming, which first sets the current application
  password on the restored instance (a throwaway PostgreSQL on 127.0.0.1 stands in for it), and
  its report in the artifacts bucket (tasks/report-upload.yml, which every runbook's report goes
  through).
- patch.yml and deploy.yml on the dev twin, under load: a bounded load generator
  (tests/integration/loadgen.py) sends requests through nginx on 127.0.0.1 while the runbook
  runs, and every request must succeed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# The dev twin is one per machine: with test_dev_twin.py, in one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("dev-twin")

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


@dataclass
class Run:
    """One ansible-playbook run: exit code, output, wall time."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def tail(self, lines: int = 60) -> str:
        return "\n".join((self.stdout + "\n" + self.stderr).splitlines()[-lines:])


def playbook(name: str, *args: str, env: dict[str, str] | None = None,
             timeout: float = 1800) -> Run:
    """Run playbooks/runbooks/<name> with the dev inventory (ansible.cfg's default)."""
    started = time.monotonic()
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), f"playbooks/runbooks/{name}", "-i", "inventories/dev",
         *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )
    return Run(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def extra(**values: object) -> list[str]:
    return ["-e", json.dumps(values)]


# --- db-restore.yml on moto ------------------------------------------------------------------

SOURCE = "ideation-dev-db"


@pytest.fixture
def rds(moto_server):
    """A fresh moto with the dev database instance (1 day of automated backups), as provisioned."""
    moto_server.reset()
    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.2.{20 + i}.0/24",
                                 AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    group = ec2.create_security_group(GroupName="ideation-dev-database", Description="db",
                                      VpcId=vpc)["GroupId"]
    client = moto_server.client("rds")
    client.create_db_subnet_group(DBSubnetGroupName=SOURCE, DBSubnetGroupDescription="db",
                                  SubnetIds=subnets)
    client.create_db_instance(
        DBInstanceIdentifier=SOURCE, Engine="postgres", EngineVersion="16.4",
        DBSubnetGroupName=SOURCE, VpcSecurityGroupIds=[group],
        DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="ideation_user",
        MasterUserPassword="not-a-real-password", BackupRetentionPeriod=1, DBName="ideation_db",
        Tags=[{"Key": "Environment", "Value": "dev"}, {"Key": "Project", "Value": "ideation"}],
    )
    sm = moto_server.client("secretsmanager")
    sm.create_secret(Name=APP_SECRET, SecretString=APP_PASSWORD)
    sm.create_secret(Name=MASTER_SECRET, SecretString=MASTER_PASSWORD)
    return client


APP_SECRET = "ideation/dev/db/password"
MASTER_SECRET = "ideation/dev/db/master_password"
APP_PASSWORD = "current-app-password-4f1c"
MASTER_PASSWORD = "current-master-password-9b2e"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalPostgres:
    """A throwaway PostgreSQL server on 127.0.0.1, run as the postgres user."""

    port: int
    socket_dir: Path

    def sql(self, statement: str, user: str = "postgres", password: str | None = None,
            host: str | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, PGPASSWORD=password or "", PGCONNECT_TIMEOUT="5")
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", "env", f"PGPASSWORD={password or ''}",
             str(PG_BIN / "psql"), "-X", "-At", "-h", host or str(self.socket_dir),
             "-p", str(self.port), "-U", user, "-d", "ideation_db", "-c", statement],
            capture_output=True, text=True, env=env, timeout=30, check=False)

    def accepts(self, user: str, password: str) -> bool:
        return self.sql("SELECT 1", user=user, password=password, host="127.0.0.1").returncode == 0


@pytest.fixture(scope="module")
def restored_postgres():
    """What a point-in-time restore of the dev database holds: the master user and the
    application user, with the passwords of the restore time."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 is not installed (scripts/ensure-system-packages installs it)")
    base = Path(tempfile.mkdtemp(prefix="ideation-restore-pg-"))
    shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, text=True, timeout=120)

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                "--auth-host=scram-sha-256")
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")
    server = LocalPostgres(port, base)
    try:
        for statement in (
            "CREATE ROLE ideation_admin LOGIN CREATEDB CREATEROLE PASSWORD 'restore-time-master'",
            "CREATE ROLE ideation_user LOGIN PASSWORD 'restore-time-app'",
        ):
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-X", "-h",
                            str(base), "-p", str(port), "-d", "postgres", "-c", statement],
                           check=True, capture_output=True, timeout=30)
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "createdb"), "-h",
                        str(base), "-p", str(port), "-O", "ideation_admin", "ideation_db"],
                       check=True, capture_output=True, timeout=30)
        yield server
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data),
                        "-m", "immediate", "stop"], check=False, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def cutover_check(server: LocalPostgres) -> dict[str, object]:
    """Send the cut-over's password check to the stand-in of the restored instance."""
    return {"restore_check_host": "localhost", "restore_check_address": "127.0.0.1",
            "restore_check_port": server.port, "postgres_bootstrap_ssl_mode": "disable"}


def instances(client) -> dict[str, dict]:
    return {i["DBInstanceIdentifier"]: i for i in client.describe_db_instances()["DBInstances"]}


@pytest.mark.integration
def test_db_restore_to_a_point_in_time_makes_a_new_instance(moto_server, rds, tmp_path):
    restore_time = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    moto_server.start_recording()
    run = playbook("db-restore.yml", *extra(restore_time=restore_time, restore_target="restored-1",
                                            runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    writes = moto_server.writes(moto_server.stop_recording())
    assert run.returncode == 0, run.tail()

    found = instances(rds)
    assert set(found) == {SOURCE, "restored-1"}
    restored = found["restored-1"]
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(
        ResourceName=restored["DBInstanceArn"])["TagList"]}
    assert tags["RestoredFrom"] == SOURCE
    assert tags["RestoreTime"] == restore_time
    assert tags["Environment"] == "dev"
    assert restored["BackupRetentionPeriod"] == 1
    # The source is only read: every write is about the new instance.
    assert "RestoreDBInstanceToPointInTime" in writes
    assert set(writes) <= {"RestoreDBInstanceToPointInTime", "ModifyDBInstance",
                           "AddTagsToResource"}, writes
    report = json.loads(next(tmp_path.glob("db-restore-*.json")).read_text())
    assert report["instance"] == "restored-1"
    assert report["from"] == restore_time
    assert float(report["minutes"]) <= float(report["rto_minutes"])
    # This account has no artifacts bucket or key: the copy fails, said as such, and the restore
    # still succeeds (its result stands) with its report on the controller.
    output = " ".join(run.stdout.split())
    assert "NOT UPLOADED: the db-restore report" in output, run.tail()
    assert "The KMS key alias/ideation-dev does not exist" in output
    assert "result is what the rest of this output says, not this." in output
    assert "bucket: NOT UPLOADED (said above)" in output


@pytest.mark.integration
def test_db_restore_report_lands_in_the_artifacts_bucket_encrypted(moto_server, rds, tmp_path):
    """With the bucket and key provisioning makes (storage.yml), the report is copied to
    reports/db-restore/<run>.json, encrypted with the platform key, the same bytes as the local
    one."""
    kms = moto_server.client("kms")
    key = kms.create_key(Description="ideation dev data at rest")["KeyMetadata"]
    kms.create_alias(AliasName="alias/ideation-dev", TargetKeyId=key["KeyId"])
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="ideation-dev-artifacts")
    run = playbook("db-restore.yml", *extra(restore_target="restored-3",
                                            runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    assert run.returncode == 0, run.tail()
    assert "NOT UPLOADED" not in run.stdout, run.tail()
    local = next(tmp_path.glob("db-restore-*.json"))
    stamp = local.stem.removeprefix("db-restore-")
    objects = s3.list_objects_v2(Bucket="ideation-dev-artifacts", Prefix="reports/")["Contents"]
    assert [o["Key"] for o in objects] == [f"reports/db-restore/{stamp}.json"]
    stored = s3.get_object(Bucket="ideation-dev-artifacts", Key=f"reports/db-restore/{stamp}.json")
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"] == key["Arn"]
    assert stored["Body"].read() == local.read_bytes()
    assert json.loads(local.read_text())["instance"] == "restored-3"
    assert f"bucket: s3://ideation-dev-artifacts/reports/db-restore/{stamp}.json" in " ".join(
        run.stdout.split())


@pytest.mark.integration
def test_db_restore_refuses_a_time_after_the_latest_restorable_one(moto_server, rds, tmp_path):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    run = playbook("db-restore.yml", *extra(restore_time=future, runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    assert run.returncode != 0
    assert "is after the latest restorable time" in run.stdout, run.tail()
    assert set(instances(rds)) == {SOURCE}


@pytest.mark.integration
def test_db_restore_refuses_without_automated_backups(moto_server, rds, tmp_path):
    rds.modify_db_instance(DBInstanceIdentifier=SOURCE, BackupRetentionPeriod=0,
                           ApplyImmediately=True)
    run = playbook("db-restore.yml", *extra(runbook_report_dir=str(tmp_path)),
                   env=moto_server.env())
    assert run.returncode != 0
    assert "automated backups are off" in run.stdout, run.tail()
    assert set(instances(rds)) == {SOURCE}


@pytest.mark.integration
def test_db_restore_cutover_gives_the_restored_instance_the_source_name(moto_server, rds,
                                                                        restored_postgres,
                                                                        tmp_path):
    first = playbook("db-restore.yml", *extra(restore_target="restored-2",
                                              runbook_report_dir=str(tmp_path)),
                     env=moto_server.env())
    assert first.returncode == 0, first.tail()
    # The runbook gives the restored instance the current master password (ModifyDBInstance);
    # moto records it, the stand-in applies it as RDS would.
    restored_postgres.sql(f"ALTER ROLE ideation_admin PASSWORD '{MASTER_PASSWORD}'")
    restored_postgres.sql("ALTER ROLE ideation_user PASSWORD 'restore-time-app'")
    assert not restored_postgres.accepts("ideation_user", APP_PASSWORD)
    cutover = playbook("db-restore.yml", *extra(restore_target="restored-2", restore_cutover=True,
                                                runbook_report_dir=str(tmp_path),
                                                **cutover_check(restored_postgres)),
                       env=moto_server.env())
    assert cutover.returncode == 0, cutover.tail()
    # The restored instance takes the password PgBouncer has (AWSCURRENT), not its restore time's.
    assert restored_postgres.accepts("ideation_user", APP_PASSWORD)
    assert not restored_postgres.accepts("ideation_user", "restore-time-app")
    assert APP_PASSWORD not in cutover.stdout and MASTER_PASSWORD not in cutover.stdout
    found = instances(rds)
    assert "restored-2" not in found
    assert SOURCE in found
    replaced = [name for name in found if name.startswith(f"{SOURCE}-replaced-")]
    assert len(replaced) == 1, found.keys()
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(
        ResourceName=found[SOURCE]["DBInstanceArn"])["TagList"]}
    assert tags.get("RestoredFrom") == SOURCE, "the instance named like the source is the restore"


@pytest.mark.integration
def test_db_restore_refuses_to_cut_over_when_the_restored_instance_refuses_the_password(
        moto_server, rds, restored_postgres, tmp_path):
    """The restored instance does not let the master user in with the password Secrets Manager
    holds (here: RDS never applied it): no rename, PgBouncer stays on the live instance."""
    restored_postgres.sql("ALTER ROLE ideation_admin PASSWORD 'restore-time-master'")
    restored_postgres.sql("ALTER ROLE ideation_user PASSWORD 'restore-time-app'")
    first = playbook("db-restore.yml", *extra(restore_target="restored-3",
                                              runbook_report_dir=str(tmp_path)),
                     env=moto_server.env())
    assert first.returncode == 0, first.tail()
    before = set(instances(rds))
    cutover = playbook("db-restore.yml", *extra(restore_target="restored-3", restore_cutover=True,
                                                runbook_report_dir=str(tmp_path),
                                                **cutover_check(restored_postgres)),
                       env=moto_server.env())
    assert cutover.returncode != 0
    assert "Not cutting over: the restored instance restored-3" in cutover.stdout, cutover.tail()
    assert "password authentication failed" in cutover.stdout
    assert set(instances(rds)) == before == {SOURCE, "restored-3"}
    assert not restored_postgres.accepts("ideation_user", APP_PASSWORD)
    assert APP_PASSWORD not in cutover.stdout and MASTER_PASSWORD not in cutover.stdout


# --- patch.yml and deploy.yml on the dev twin, under load ------------------------------------
# The twin (scripts/dev-up) is shared with test_dev_twin.py through the session fixture dev_twin
# (conftest.py). These tests run in order and each leaves the twin serving for the next: two API
# hosts in rotation, every instance InService.

MOTO_URL = "http://127.0.0.1:5000"
API_ASG = "ideation-dev-api"
CELERY_ASG = "ideation-dev-celery"
SITE_NAME = "api.dev.ideation.example.com"
# Requests per second: 10,000 take 100 s, shorter than every runbook run under load. Each is a
# new TLS connection through nginx to the API: at 150 a second the load itself took a third of
# this 2-core machine (client, nginx, gunicorn) from the suite's other worker.
LOAD_RATE = 100.0
LOAD_MIN = 10_000


def twin_env() -> dict[str, str]:
    """What scripts/dev-up gives Ansible: moto on loopback, dummy credentials, no profile."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(name, None)
    env.update(AWS_ENDPOINT_URL=MOTO_URL, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    return env


def autoscaling():
    import boto3

    return boto3.client("autoscaling", region_name="us-east-1", endpoint_url=MOTO_URL,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def sh(container: str, command: str, check: bool = True) -> str:
    """Run a shell command in a twin machine (docker exec, as root)."""
    result = subprocess.run(["docker", "exec", container, "sh", "-c", command],
                            capture_output=True, text=True, timeout=600, check=False)
    if check:
        assert result.returncode == 0, f"{command} on {container}: {result.stdout}{result.stderr}"
    return result.stdout.strip()


@dataclass
class Fleet:
    """The twin's machines that the runbook tests touch."""

    nginx: str                   # container of the (only) nginx
    port: int                    # its HTTPS port on 127.0.0.1
    api: dict[str, str]          # inventory name (api-<instance id>) -> container, in play order
    celery: dict[str, str]       # inventory name (celery-<instance id>) -> container

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/health"

    def drained(self) -> set[str]:
        """API hosts marked down in nginx's upstream list."""
        text = sh(self.nginx, "cat /etc/nginx/ideation/upstream.conf")
        return {line.split("#")[1].split()[0] for line in text.splitlines()
                if " down;" in line and "#" in line}

    def address(self, host: str) -> str:
        """The API host's private address: eth0's, the twin network's (hostname -I may list
        Docker's bridge first)."""
        return sh(self.api[host], "ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1")

    def ready(self, host: str) -> int:
        """The status of /ready on the API host's private address, from the host itself."""
        container = self.api[host]
        address = self.address(host)
        return int(sh(container, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 "
                                 f"http://{address}:8000/ready", check=False) or 0)

    def version(self, host: str) -> str:
        container = self.api[host]
        address = self.address(host)
        return json.loads(sh(container, f"curl -s --max-time 5 http://{address}:8000/health"))[
            "version"]

    def boot(self, host: str) -> str:
        """When the machine's PID 1 started: changes with every reboot."""
        return sh({**self.api, **self.celery}[host], "cut -d ' ' -f 22 /proc/1/stat")

    def submit_idea(self, title: str) -> str:
        """POST an idea through nginx (HTTPS on 127.0.0.1, the API's name); its id."""
        status, body = self._site("POST", "/api/ideas", {"title": title, "description": "patch",
                                                         "submitter": "test_runbooks"})
        assert status == 201, (status, body)
        return body["id"]

    def idea_status(self, idea_id: str) -> str:
        status, body = self._site("GET", f"/api/ideas/{idea_id}")
        assert status == 200, (status, body)
        return body["status"]

    def _site(self, method: str, path: str, data: dict | None = None) -> tuple[int, dict]:
        """One request to nginx on 127.0.0.1 with the API's name as SNI and Host, as the load
        generator sends them (nginx refuses a TLS handshake without a name it serves)."""
        from loadgen import https_connection, unverified_context

        connection = https_connection(("127.0.0.1", self.port), SITE_NAME, unverified_context(),
                                      timeout=10)
        try:
            connection.request(method, path, body=json.dumps(data) if data else None,
                               headers={"Host": SITE_NAME, "Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def lifecycle(self) -> dict[str, str]:
        """Each API instance's lifecycle state in its auto-scaling group (InService, Standby...)."""
        groups = autoscaling().describe_auto_scaling_groups(AutoScalingGroupNames=[API_ASG])
        return {i["InstanceId"]: i["LifecycleState"]
                for i in groups["AutoScalingGroups"][0]["Instances"]}


def wait_until(what: str, check, timeout: float = 180, interval: float = 3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def dev_up(log: str) -> None:
    """scripts/dev-up on the running twin: new machines for new instances, site.yml converged."""
    out = REPO / "build" / "logs" / log
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as handle:
        result = subprocess.run([str(REPO / "scripts" / "dev-up")], cwd=REPO,
                                env=dict(twin_env(), DEV_PROVISION="never"), stdout=handle,
                                stderr=subprocess.STDOUT, timeout=40 * 60, check=False)
    assert result.returncode == 0, f"scripts/dev-up failed: build/logs/{log}"


@pytest.fixture(scope="module")
def fleet(dev_twin) -> Fleet:
    """The twin with two API hosts (a zero-failure drain needs another host to take the load):
    the dev API group is scaled to 2 in moto, and dev-up starts and converges the new machine."""
    client = autoscaling()
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[API_ASG])[
        "AutoScalingGroups"][0]
    if group["DesiredCapacity"] < 2:
        client.update_auto_scaling_group(AutoScalingGroupName=API_ASG, MaxSize=2,
                                         DesiredCapacity=2)
        wait_until("moto launches the second API instance",
                   lambda: len(client.describe_auto_scaling_groups(
                       AutoScalingGroupNames=[API_ASG])["AutoScalingGroups"][0]["Instances"]) == 2)
        dev_up("dev-up-runbooks.log")
    state = json.loads((REPO / ".dev" / "twin.json").read_text())
    machines = state["machines"]
    nginx = next(m for m in machines if m["role"] == "nginx")
    port = int(next(p for p in nginx["ports"] if p.endswith(":443")).split(":")[1])
    inventory = json.loads(subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", "inventories/dev", "--list"], cwd=REPO,
        env=twin_env(), capture_output=True, text=True, check=True).stdout)
    by_id = {m["instance_id"]: m["name"] for m in machines if m["role"] == "api"}
    api = {host: by_id[host.split("-", 1)[1]] for host in inventory["api"]["hosts"]}
    assert len(api) == 2, api
    by_id = {m["instance_id"]: m["name"] for m in machines if m["role"] == "celery"}
    celery = {host: by_id[host.split("-", 1)[1]] for host in inventory["celery"]["hosts"]}
    fleet = Fleet(nginx=nginx["name"], port=port, api=api, celery=celery)
    for host in api:
        wait_until(f"{host} answers /ready", lambda h=host: fleet.ready(h) == 200)
    assert fleet.drained() == set()
    return fleet


def make_upgradable(container: str) -> str:
    """Install the previous version of tzdata (small, always updated in bookworm-updates) and say
    a reboot is required, as a kernel update's hook does: patching then has something to do."""
    return sh(container, (
        "set -e; apt-get update -qq; "
        "old=$(apt-cache madison tzdata | awk '{print $3}' | sed -n 2p); "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades tzdata=$old "
        ">/dev/null; echo '*** System restart required ***' > /var/run/reboot-required; "
        "echo tzdata >> /var/run/reboot-required.pkgs; echo $old"))


CANARY = "ideation-canary"
CANARY_SCRIPT = Path(__file__).parent / "files" / "canary-update.sh"


def canary_update(container: str, *args: str) -> str:
    """tests/integration/files/canary-update.sh in the machine: ideation-canary 1.0 installed
    with 2.0 on offer from a repository without an origin (or, with "remove", neither)."""
    subprocess.run(["docker", "cp", str(CANARY_SCRIPT), f"{container}:/tmp/canary-update.sh"],
                   check=True, capture_output=True)
    return sh(container, " ".join(["sh", "/tmp/canary-update.sh", *args]))


def run_under_load(fleet: Fleet, name: str, *args: str, path: str = "/health"):
    """Run a runbook while the load generator sends requests through nginx (to /health, or to
    /ready, which goes through PgBouncer to the database and to Redis)."""
    from loadgen import LoadGenerator

    url = fleet.url.replace("/health", path)
    load = LoadGenerator(url, server_name=SITE_NAME, rate=LOAD_RATE, threads=32,
                         min_requests=LOAD_MIN, max_duration=1500)
    with load:
        run = playbook(name, *args, env=twin_env())
    print(f"{name}: {run.seconds:.0f} s; load: {json.dumps(load.result.summary())}")
    return run, load.result


def report(run: Run, kind: str) -> dict:
    """The JSON report a runbook wrote (its path is printed at the end of its report)."""
    paths = sorted((REPO / ".cache" / "runbooks").glob(f"{kind}-*.json"))
    assert paths, run.tail()
    return json.loads(paths[-1].read_text())


@pytest.mark.integration
def test_patch_reboots_every_api_host_with_no_failed_request(fleet):
    before = {host: fleet.boot(host) for host in fleet.api}
    old = {host: make_upgradable(container) for host, container in fleet.api.items()}

    run, load = run_under_load(fleet, "patch.yml", *extra(
        patch_groups=["api"], patch_updates="all", patch_serial_api=1))

    assert run.returncode == 0, run.tail()
    assert load.failed == 0, load.summary()
    assert load.sent >= LOAD_MIN
    rows = {row["host"]: row for row in report(run, "patch")["hosts"]}
    assert set(rows) == set(fleet.api), rows
    for host, row in rows.items():
        assert row["status"] == "patched", row
        assert row["rebooted"] is True, row
        assert any(p.startswith(f"tzdata {old[host]} -> ") for p in row["packages"]), row
        assert row["kernel_before"] and row["kernel_after"], row
        assert fleet.boot(host) != before[host], f"{host} did not reboot"
    assert "host" in run.stdout and "tzdata" in run.stdout, "the report is printed"
    assert fleet.drained() == set()
    assert set(fleet.lifecycle().values()) == {"InService"}


@pytest.fixture
def broken_host(fleet):
    """The first API host of the play, made unable to become ready after a reboot (its API
    container no longer starts with Docker); repaired and put back afterwards. The first, so
    that the test tells "the run stops" from "the run goes on to the next host"."""
    host = next(iter(fleet.api))
    container = fleet.api[host]
    ids = sh(container, "docker ps -q --filter label=ideation-service=api").split()
    assert ids, "no API container on the host"
    sh(container, f"docker update --restart=no {' '.join(ids)}")
    yield host
    sh(container, f"docker update --restart=unless-stopped {' '.join(ids)}; "
                  f"docker start {' '.join(ids)}")
    wait_until(f"{host} answers /ready again", lambda: fleet.ready(host) == 200)
    back = subprocess.run([str(VENV_BIN / "ansible-playbook"), "playbooks/nginx.yml", "-i",
                           "inventories/dev", "--tags", "nginx_upstream"], cwd=REPO,
                          env=twin_env(), capture_output=True, text=True, check=False)
    assert back.returncode == 0, back.stdout[-3000:]
    instance = host.split("-", 1)[1]
    if fleet.lifecycle().get(instance) == "Standby":
        autoscaling().exit_standby(AutoScalingGroupName=API_ASG, InstanceIds=[instance])


@pytest.mark.integration
def test_patch_stops_at_a_host_that_never_becomes_ready(fleet, broken_host):
    old = {host: make_upgradable(container) for host, container in fleet.api.items()}
    healthy = next(host for host in fleet.api if host != broken_host)
    healthy_boot = fleet.boot(healthy)

    run, load = run_under_load(fleet, "patch.yml", *extra(
        patch_groups=["api"], patch_updates="all", patch_serial_api=1, patch_ready_timeout=45))

    assert run.returncode != 0
    assert (f"{broken_host} could not be patched: the API did not answer /ready with 200 within "
            "45 s after patching") in run.stdout, run.tail()
    assert "It stays out of rotation" in run.stdout
    assert load.failed == 0, load.summary()
    assert load.sent >= LOAD_MIN
    assert fleet.drained() == {broken_host}
    states = fleet.lifecycle()
    assert states[broken_host.split("-", 1)[1]] == "Standby"
    assert states[healthy.split("-", 1)[1]] == "InService"
    assert fleet.ready(healthy) == 200
    rows = {row["host"]: row for row in report(run, "patch")["hosts"]}
    assert rows[broken_host]["status"] == "failed"
    # The run stopped there: the next host was neither patched nor rebooted.
    assert rows.get(healthy, {}).get("status") != "patched", rows
    assert fleet.boot(healthy) == healthy_boot, f"{healthy} was rebooted after the failure"
    version = sh(fleet.api[healthy], "dpkg-query -W -f '${Version}' tzdata")
    assert version == old[healthy], f"{healthy} was patched after the failure"


@pytest.mark.integration
def test_patch_security_only_stops_the_workers_warmly_and_loses_no_idea(fleet):
    """patch.yml on the Celery tier with patch_updates=security: the workers stop warmly before
    the host is patched and rebooted, ideas submitted meanwhile wait in Redis and are processed
    afterwards; every package updated comes from the security archive, and an update from
    another origin (the canary's) stays on offer, not applied."""
    import threading

    host, container = next(iter(fleet.celery.items()))
    make_upgradable(container)  # and a reboot required
    assert canary_update(container) == "2.0", "the canary's update is on offer"
    boot_before = fleet.boot(host)
    submitted: list[str] = []
    stop = threading.Event()

    errors: list[BaseException] = []

    def submit() -> None:
        try:
            while not stop.wait(4):
                submitted.append(fleet.submit_idea(f"During patching {len(submitted)}"))
        except BaseException as error:  # reported by the test below
            errors.append(error)

    # The twin has one worker host in a group at its minimum (1/1): AWS refuses Standby below the
    # minimum, so the runbook lowers it to 0 for the batch and puts it back (its Standby window).
    client = autoscaling()
    before = client.describe_auto_scaling_groups(AutoScalingGroupNames=[CELERY_ASG])[
        "AutoScalingGroups"][0]
    assert before["MinSize"] == before["DesiredCapacity"] == 1, before
    submitter = threading.Thread(target=submit, daemon=True)
    submitter.start()
    try:
        run = playbook("patch.yml", *extra(patch_groups=["celery"], patch_updates="security"),
                       env=twin_env())
    finally:
        stop.set()
        submitter.join(timeout=30)
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[CELERY_ASG])[
        "AutoScalingGroups"][0]
    assert run.returncode == 0, run.tail()
    assert (group["MinSize"], group["DesiredCapacity"]) == (1, 1), "the window was not closed"
    assert not [t for t in group["Tags"] if t["Key"] == "ideation:standby-window-min-size"]
    assert "minimum 1 -> 0 for a batch of 1" in run.stdout, run.tail()
    row = {r["host"]: r for r in report(run, "patch")["hosts"]}[host]
    assert row["status"] == "patched" and row["rebooted"] is True, row
    assert sh(container, f"dpkg-query -W -f '${{Version}}' {CANARY}") == "1.0", row
    for package in row["packages"]:  # "name old -> new"
        name, _, _, new = package.split()
        origins = sh(container, f"apt-cache madison {name.split(':')[0]} | grep -F ' {new} '")
        assert "-security" in origins, f"{package} came from {origins}"
    canary_update(container, "remove")
    assert fleet.boot(host) != boot_before, f"{host} did not reboot"
    worker_log = sh(container, "docker logs ideation-celery-default 2>&1")
    assert "Warm shutdown" in worker_log, worker_log[-2000:]
    assert not errors, f"submitting an idea failed: {errors[0]!r}"
    assert len(submitted) >= 10, submitted
    waiting = list(submitted)

    def all_processed() -> bool:
        waiting[:] = [i for i in waiting if fleet.idea_status(i) != "processed"]
        return not waiting

    try:
        wait_until("every idea submitted during patching is processed", all_processed, timeout=240)
    except pytest.fail.Exception:
        beat_log = sh(container, "docker logs --tail 20 ideation-celery-beat 2>&1")
        worker_log = sh(container, "docker logs ideation-celery-default 2>&1").splitlines()
        named = [line for line in worker_log if any(i in line for i in waiting)]
        pytest.fail(f"{len(waiting)} of {len(submitted)} ideas submitted during patching are not "
                    f"processed 240 s after it: {waiting} (statuses "
                    f"{[fleet.idea_status(i) for i in waiting]}); the worker's log names them "
                    f"{named}; the beat's last lines:\n{beat_log}")


def build_image(tag: str, *options: str) -> Path:
    result = subprocess.run([str(REPO / "scripts" / "build-app-image"), *options, tag], cwd=REPO,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return REPO / "build" / "images" / f"ideation-app_{tag}.tar.gz"


@pytest.fixture(scope="module")
def original_release(fleet) -> str:
    versions = {fleet.version(host) for host in fleet.api}
    assert len(versions) == 1, versions
    return versions.pop()


@pytest.mark.integration
def test_deploy_a_new_tag_with_no_failed_request(fleet, original_release):
    archive = build_image("runbooks-2")

    run, load = run_under_load(fleet, "deploy.yml", *extra(
        deploy_tag="runbooks-2", deploy_image_archive=str(archive), deploy_groups=["api"],
        deploy_serial_api=1))

    assert run.returncode == 0, run.tail()
    assert load.failed == 0, load.summary()
    assert load.sent >= LOAD_MIN
    assert {fleet.version(host) for host in fleet.api} == {"runbooks-2"}
    assert set(load.versions) == {original_release, "runbooks-2"}, load.versions
    assert fleet.drained() == set()
    for container in fleet.api.values():
        record = json.loads(sh(container, "cat /var/lib/ideation/release.json"))
        assert (record["tag"], record["previous"]) == ("runbooks-2", original_release)


@pytest.mark.integration
def test_deploy_of_a_never_ready_tag_rolls_back_and_stops(fleet, original_release):
    archive = build_image("runbooks-broken", "--broken", "never-ready")
    first = next(iter(fleet.api))

    run, load = run_under_load(fleet, "deploy.yml", *extra(
        deploy_tag="runbooks-broken", deploy_image_archive=str(archive), deploy_groups=["api"],
        deploy_serial_api=1, deploy_ready_timeout=30))

    assert run.returncode != 0
    assert f"{first}: release runbooks-broken did not become ready" in run.stdout, run.tail()
    assert "Rolled back: it serves runbooks-2 again and is back in rotation" in run.stdout
    assert load.failed == 0, load.summary()
    assert load.sent >= LOAD_MIN
    assert "runbooks-broken" not in load.versions
    assert {fleet.version(host) for host in fleet.api} == {"runbooks-2"}
    assert fleet.drained() == set()
    rows = report(run, "deploy")["hosts"]
    assert [row["host"] for row in rows] == [first], "the rollout stops after the first batch"
    assert rows[0]["result"] == "rolled back, in rotation"


@pytest.mark.integration
def test_rollback_returns_to_the_previous_release(fleet, original_release):
    run = playbook("rollback.yml", *extra(deploy_groups=["api"], deploy_serial_api=1),
                   env=twin_env())
    assert run.returncode == 0, run.tail()
    assert {fleet.version(host) for host in fleet.api} == {original_release}
    assert fleet.drained() == set()


def secretsmanager():
    import boto3

    return boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=MOTO_URL,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


DB_SECRET = "ideation/dev/db/password"
DB_MASTER_SECRET = "ideation/dev/db/master_password"
POSTGRES = "ideation-dev-postgres"


def server_accepts(password: str) -> bool:
    """Whether the database stand-in (RDS) lets the app's user log in with this password."""
    result = subprocess.run(
        ["docker", "exec", "-e", f"PGPASSWORD={password}", POSTGRES, "psql", "-U",
         "ideation_user", "-d", "ideation_db", "-Atc", "SELECT 1"],  # local socket: scram too
        capture_output=True, text=True, timeout=60, check=False)
    return result.returncode == 0


def stages(sm, secret_id: str) -> set[str]:
    versions = sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    return {stage for labels in versions.values() for stage in labels}


@pytest.mark.integration
def test_rotate_secrets_leaves_awscurrent_working_when_the_server_refuses(fleet):
    """The server refuses the change (the master password in Secrets Manager is not the
    server's): AWSCURRENT is unchanged and still logs in, the new password waits as AWSPENDING,
    a new run will not start over it, and abandoning drops it."""
    sm = secretsmanager()
    before = sm.get_secret_value(SecretId=DB_SECRET)["SecretString"]
    master = sm.get_secret_value(SecretId=DB_MASTER_SECRET)["SecretString"]
    sm.put_secret_value(SecretId=DB_MASTER_SECRET, SecretString="not-the-servers-master-7c1d")
    try:
        run = playbook("rotate-secrets.yml", env=twin_env())
    finally:
        sm.put_secret_value(SecretId=DB_MASTER_SECRET, SecretString=master)
    assert run.returncode != 0
    assert f"AWSCURRENT of {DB_SECRET} is unchanged" in run.stdout, run.tail()
    assert "password authentication failed" in run.stdout, run.tail()
    assert sm.get_secret_value(SecretId=DB_SECRET)["SecretString"] == before
    pending = sm.get_secret_value(SecretId=DB_SECRET, VersionStage="AWSPENDING")["SecretString"]
    assert pending != before
    assert server_accepts(before) and not server_accepts(pending)
    for host in fleet.api:
        assert fleet.ready(host) == 200, host

    again = playbook("rotate-secrets.yml", env=twin_env())
    assert again.returncode != 0
    assert "is half done" in again.stdout, again.tail()

    abandon = playbook("rotate-secrets.yml", *extra(rotate_abandon=True), env=twin_env())
    assert abandon.returncode == 0, abandon.tail()
    assert "AWSPENDING" not in stages(sm, DB_SECRET)
    assert sm.get_secret_value(SecretId=DB_SECRET)["SecretString"] == before
    assert server_accepts(before)
    for out in (run, again, abandon):
        assert before not in out.stdout and pending not in out.stdout and master not in out.stdout


@pytest.mark.integration
def test_rotate_secrets_changes_the_password_with_no_failed_request(fleet):
    sm = secretsmanager()
    before = sm.get_secret_value(SecretId=DB_SECRET)["SecretString"]
    assert server_accepts(before)

    run, load = run_under_load(fleet, "rotate-secrets.yml", path="/ready")

    assert run.returncode == 0, run.tail()
    assert load.failed == 0, load.summary()
    assert load.sent >= LOAD_MIN
    after = sm.get_secret_value(SecretId=DB_SECRET)["SecretString"]
    assert after != before
    assert sm.get_secret_value(SecretId=DB_SECRET, VersionStage="AWSPREVIOUS")[
        "SecretString"] == before
    assert "AWSPENDING" not in stages(sm, DB_SECRET)
    assert server_accepts(after) and not server_accepts(before)
    for host in fleet.api:
        assert fleet.ready(host) == 200, host
    assert before not in run.stdout and after not in run.stdout, "a password was logged"


@pytest.mark.integration
def test_renew_certs_checks_the_operators_certificate_nginx_serves(fleet):
    """The twin's site certificate is supplied as files (by the dev CA, valid a year): the
    runbook reads what nginx serves over TLS, finds it the file on disk and not due."""
    run = playbook("renew-certs.yml", env=twin_env())
    assert run.returncode == 0, run.tail()
    assert "(files): valid until" in run.stdout, run.tail()
    assert "not renewed (not due" in run.stdout


@pytest.mark.integration
def test_renew_certs_stops_when_the_operators_certificate_expires_soon(fleet):
    run = playbook("renew-certs.yml", *extra(renew_min_days=400), env=twin_env())
    assert run.returncode != 0
    assert "is the operator's (nginx_tls_mode=files)" in run.stdout, run.tail()
    assert "within 400 days" in run.stdout
    assert "nginx_tls_certificate" in run.stdout
