"""The dev twin end to end: scripts/dev-up from nothing, the platform's behaviour, scripts/dev-down.

One twin per test session (conftest.py's dev_twin, shared with test_runbooks.py;
docs/dev-environment.md): moto on 127.0.0.1 as the AWS API, provisioned
by playbooks/provision.yml, one container per instance the dev auto-scaling groups launched, and
site.yml converged through the real aws_ec2 inventory and SSH through the bastion. Then:

- an idea submitted over HTTPS through nginx is stored, processed by a Celery worker and read back;
- the API's /ready passes through PgBouncer (its query counters move);
- Prometheus shows every target up, and a node exporter target for every machine;
- scripts/dev-up again on the running twin skips provisioning and changes nothing, and
  site.yml --check --diff reports no change;
- the twin listens on 127.0.0.1 and its own Docker network only.

The full logs go to build/logs/ (dev-up.log, dev-up-rerun.log, site-check.log, dev-down.log).
Set DEV_TWIN_KEEP=1 to leave the twin running after the tests (for a look around).
Run alone: `pytest tests/integration/test_dev_twin.py` (as root, like scripts/dev-up).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# One twin per machine: every test that uses it runs in one pytest-xdist worker, in turn
# (scripts/test runs with --dist loadgroup; tests/integration/test_harness.py checks it works).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dev-twin")]

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "build" / "logs"
TWIN_STATE = REPO / ".dev" / "twin.json"
MOTO_URL = "http://127.0.0.1:5000"
TAIL_LINES = 80
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass
class Twin:
    """What dev-up left behind: the machines (from .dev/twin.json) and the published URLs."""

    state: dict[str, Any]

    @property
    def machines(self) -> list[dict[str, Any]]:
        return self.state["machines"]

    def machine(self, role: str) -> dict[str, Any]:
        return next(m for m in self.machines if m["role"] == role)

    def published(self, role: str, container_port: int) -> int:
        """The loopback port a role's first machine publishes for a container port."""
        for spec in self.machine(role)["ports"]:
            _, host_port, port = spec.split(":")
            if int(port) == container_port:
                return int(host_port)
        raise AssertionError(f"{role} publishes no port for {container_port}")

    def url(self, role: str, container_port: int, path: str) -> str:
        return f"http://127.0.0.1:{self.published(role, container_port)}{path}"


def aws_env() -> dict[str, str]:
    """The environment dev-up gives Ansible: moto on loopback, dummy credentials, no profile."""
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PYTHONUNBUFFERED="1")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(name, None)
    env.update(AWS_ENDPOINT_URL=MOTO_URL, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    venv_bin = REPO / ".venv" / "bin"
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
    return env


def run_logged(args: list[str], log_name: str, timeout: int) -> subprocess.CompletedProcess:
    """Run a command from the repository root with its whole output in build/logs/."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / log_name
    with log.open("w") as out:
        result = subprocess.run(args, cwd=REPO, env=aws_env(), stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout, check=False)
    result.stdout = log.read_text(errors="replace")
    return result


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host (the last recap of the output wins)."""
    found: dict[str, dict[str, int]] = {}
    for match in RECAP.finditer(output.split("PLAY RECAP")[-1]):
        found[match["host"]] = {k: int(match[k])
                                for k in ("ok", "changed", "unreachable", "failed")}
    return found


class LoopbackHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 under the site's name (SNI, Host, certificate check), as a browser
    that resolves the name to this machine would connect."""

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def site_context(twin: Twin) -> ssl.SSLContext:
    """Trust the dev CA, which issued the site's certificate (playbooks/dev/twin.yml), and
    check the site's name."""
    return ssl.create_default_context(cafile=str(REPO / ".dev" / "pki" / "ca.crt"))


def site_request(twin: Twin, path: str, data: dict[str, Any] | None = None,
                 timeout: float = 10, name: str = "site") -> tuple[int, Any]:
    """A request through nginx's published port to one of its names (twin.json's domains: the
    site serves /api/ and /health, the API's name everything), verified against the dev CA."""
    connection = LoopbackHTTPSConnection(twin.state["domains"][name],
                                         twin.published("nginx", 443),
                                         timeout=timeout, context=site_context(twin))
    body = json.dumps(data) if data is not None else None
    headers = {"Content-Type": "application/json"} if body else {}
    connection.request("POST" if body else "GET", path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, decoded(response.read().decode())


def request(url: str, timeout: float = 10) -> tuple[int, Any]:
    """A plain HTTP GET on loopback."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            raw, status = response.read().decode(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read().decode(), error.code
    return status, decoded(raw)


def decoded(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def wait_for(what: str, check, timeout: float = 90, interval: float = 2):
    """Call check() until it returns a true value; fail with the last value after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, AssertionError) as error:
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def plain(value: Any) -> Any:
    """ansible-inventory --list writes some strings as {"__ansible_unsafe": ...}."""
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) else value


def docker_json(*args: str) -> Any:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def machine_exec(container: str, command: str) -> str:
    result = subprocess.run(["docker", "exec", container, "sh", "-c", command],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{command} on {container}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def twin(dev_twin: dict[str, Any]) -> Twin:
    """The session's twin (conftest.py's dev_twin: scripts/dev-up once, shared with
    test_runbooks.py; scripts/dev-down at the end of the session)."""
    return Twin(dev_twin)


def test_dev_up_converged_every_machine(twin: Twin) -> None:
    site = (REPO / ".dev" / "logs" / "site.log").read_text()
    hosts = recap(site)
    assert {h.split("-i-")[0] for h in hosts} == {"nginx", "api", "celery", "monitoring", "bastion"}
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in hosts.values()), hosts


def test_inventory_maps_each_instance_to_its_machine(twin: Twin) -> None:
    result = subprocess.run(["ansible-inventory", "-i", "inventories/dev", "--list"], cwd=REPO,
                            env=aws_env(), capture_output=True, text=True, check=True)
    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    mapped = {plain(v["instance_id"]): plain(v["ansible_host"]) for v in hostvars.values()}
    assert mapped == {m["instance_id"]: m["ip"] for m in twin.machines}
    for machine in twin.machines:
        inspect = docker_json("inspect", machine["name"])[0]
        address = inspect["NetworkSettings"]["Networks"][twin.state["network"]]["IPAddress"]
        assert address == machine["ip"], machine["name"]


def test_private_machines_are_reached_through_the_bastion(twin: Twin) -> None:
    bastion = twin.machine("bastion")["ip"]
    journal = machine_exec(twin.machine("api")["name"],
                           "journalctl -u ssh --no-pager -o cat | grep 'Accepted publickey'")
    sources = set(re.findall(r" from (\S+) port", journal))
    assert sources == {bastion}, f"SSH logins on the API host came from {sources}, not {bastion}"


def test_an_idea_goes_through_nginx_the_api_and_a_worker(twin: Twin) -> None:
    marker = uuid.uuid4().hex
    status, created = site_request(twin, "/api/ideas",
                                   {"title": f"Twin idea {marker}", "description": "one two three",
                                    "submitter": "test_dev_twin"})
    assert status == 201, created
    assert created["status"] == "submitted"

    def processed() -> dict[str, Any] | None:
        status, idea = site_request(twin, f"/api/ideas/{created['id']}")
        assert status == 200, idea
        return idea if idea["status"] == "processed" else None

    idea = wait_for("the worker processes the idea", processed, timeout=90)
    assert idea["title"] == f"Twin idea {marker}"
    assert idea["processed_at"] is not None


def pgbouncer_queries(api_ip: str) -> float:
    """Queries PgBouncer has pooled for the app's database, from its exporter on the API host."""
    with urllib.request.urlopen(f"http://{api_ip}:9127/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith('pgbouncer_queries_total{database="ideation_db"}'):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_ready_passes_through_pgbouncer(twin: Twin) -> None:
    api_ip = twin.machine("api")["ip"]
    before = pgbouncer_queries(api_ip)
    for _ in range(5):
        status, body = site_request(twin, "/ready", name="api")
        assert status == 200, body
        assert body["checks"] == {"database": "ok", "redis": "ok"}, body
    # SHOW STATS totals move once per stats_period (60 s by default), not per query.
    wait_for("PgBouncer counts the readiness queries",
             lambda: pgbouncer_queries(api_ip) >= before + 5, timeout=150, interval=5)


def test_prometheus_sees_every_target_up(twin: Twin) -> None:
    url = twin.url("monitoring", 9090, "/api/v1/targets?state=active")

    def all_up() -> list[dict[str, Any]] | None:
        status, body = request(url)
        assert status == 200, body
        targets = body["data"]["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = wait_for("every Prometheus target is up", all_up, timeout=120, interval=5)
    scraped = {t["labels"]["instance"].rsplit(":", 1)[0] for t in targets}
    scraped |= {t["discoveredLabels"].get("__address__", "").rsplit(":", 1)[0] for t in targets}
    missing = {m["ip"] for m in twin.machines} - scraped
    assert not missing, f"no target on {missing}: {[t['labels'] for t in targets]}"


def prometheus_query(twin: Twin, query: str) -> list[dict[str, Any]]:
    status, body = request(twin.url("monitoring", 9090, "/api/v1/query?")
                           + urllib.parse.urlencode({"query": query}))
    assert status == 200, body
    return body["data"]["result"]


def test_prometheus_probes_the_site_over_verified_https(twin: Twin) -> None:
    """The blackbox exporter reaches the site by its name, verifies its certificate (the dev
    CA's, as a public one in production) and reports its expiry: the data of the TLS alert."""
    success = wait_for(
        "the HTTPS probe of the site succeeds",
        lambda: [r for r in prometheus_query(twin, 'probe_success{job="blackbox"}')
                 if r["value"][1] == "1"],
        timeout=120, interval=5)
    assert success[0]["metric"]["instance"] == f"https://{twin.state['domains']['site']}/health"
    expiry = prometheus_query(twin, 'probe_ssl_earliest_cert_expiry{job="blackbox"} - time()')
    assert expiry, "no certificate expiry reported"
    assert float(expiry[0]["value"][1]) > 300 * 86400, expiry


# PromQL words that are not metric names, and the label lists that follow some of them.
PROMQL_WORDS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
PROMQL_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left",
                   "group_right"}
# Series Prometheus itself makes only while an alert is pending or firing.
ONLY_WHILE_ALERTING = {"ALERTS", "ALERTS_FOR_STATE"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (selectors, not functions, labels or keywords)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)      # strings
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)  # label matchers, ranges
    bare = re.sub(r"\$\{?\w+\}?", "1", bare)             # dashboard variables
    bare = PROMQL_WORDS.sub(" ", bare)
    return {n for n in PROMQL_NAME.findall(bare) if n.lower() not in PROMQL_KEYWORDS}


def test_metric_names_reads_selectors_only() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, job) (rate(http_x_bucket{job=~"$job"}[5m])))'
        ' / on (instance) group_left(env) up offset 5m > bool 1e6'
        ' / on (instance) group_left count by (instance) (node_x)') == {"http_x_bucket", "up",
                                                                        "node_x"}


def test_every_dashboard_metric_exists_on_the_twin(twin: Twin) -> None:
    """Each metric a Grafana dashboard queries is one the twin's Prometheus holds: a panel on a
    metric nothing exports shows nothing, forever."""
    dashboards = sorted((REPO / "roles/grafana/files/dashboards").glob("*.json"))
    assert dashboards
    wanted: dict[str, set[str]] = {}

    def walk(node: Any, dashboard: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    for name in metric_names(value):
                        wanted.setdefault(name, set()).add(dashboard)
                else:
                    walk(value, dashboard)
        elif isinstance(node, list):
            for value in node:
                walk(value, dashboard)

    for path in dashboards:
        walk(json.loads(path.read_text()), path.name)
    # Traffic that makes the lazily created series exist: an idea (task events, DB, Redis).
    status, created = site_request(twin, "/api/ideas", {"title": "Dashboards", "description": "x",
                                                        "submitter": "test_dev_twin"})
    assert status == 201, created

    def absent() -> dict[str, set[str]]:
        status, body = request(twin.url("monitoring", 9090, "/api/v1/label/__name__/values"))
        assert status == 200, body
        return {n: d for n, d in wanted.items()
                if n not in set(body["data"]) and n not in ONLY_WHILE_ALERTING}

    # Series appear at the next scrape (15 s) after the traffic above.
    deadline = time.monotonic() + 120
    while absent() and time.monotonic() < deadline:
        time.sleep(10)
    assert not absent(), f"dashboards query metrics nothing exports: {absent()}"


def test_dev_up_again_changes_nothing(twin: Twin) -> None:
    """The README's main command on the running twin: provisioning skipped (moto holds the
    current inputs), the machines and site.yml converge with no change."""
    result = run_logged([str(REPO / "scripts" / "dev-up")], "dev-up-rerun.log", timeout=30 * 60)
    assert result.returncode == 0, tail(result.stdout)
    assert "skipped: this moto holds a provisioning of the current inputs" in result.stdout
    machines = recap((REPO / ".dev" / "logs" / "twin.log").read_text())
    assert machines and not {h: c for h, c in machines.items() if c["changed"]}, machines
    hosts = recap((REPO / ".dev" / "logs" / "site.log").read_text())
    assert len(hosts) == len(twin.machines), hosts
    changed = {h: c["changed"] for h, c in hosts.items() if c["changed"]}
    assert not changed, f"a second run changed something: {changed}\n{tail(result.stdout)}"
    steps = [line.strip() for line in result.stdout.splitlines() if "steps:" in line]
    print(steps[-1] if steps else "dev-up printed no steps line")


def test_check_diff_reports_no_change(twin: Twin) -> None:
    result = run_logged(
        ["ansible-playbook", "site.yml", "-i", "inventories/dev", "--check", "--diff"],
        "site-check.log", timeout=20 * 60)
    assert result.returncode == 0, tail(result.stdout)
    hosts = recap(result.stdout)
    assert len(hosts) == len(twin.machines), hosts
    changed = {h: c["changed"] for h, c in hosts.items() if c["changed"]}
    assert not changed, f"--check --diff reports changes: {changed}\n{tail(result.stdout)}"


def test_twin_listens_on_loopback_and_its_own_network_only(twin: Twin) -> None:
    network = docker_json("network", "inspect", twin.state["network"])[0]
    assert [c["Subnet"] for c in network["IPAM"]["Config"]] == [twin.state["vpc_cidr"]]
    ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=org.ideation.dev=twin"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert len(ids) == len(twin.machines) + len(twin.state["standins"])
    for container in docker_json("inspect", *ids):
        name = container["Name"].lstrip("/")
        assert container["HostConfig"]["NetworkMode"] == twin.state["network"], name
        assert set(container["NetworkSettings"]["Networks"]) == {twin.state["network"]}, name
        assert not container["HostConfig"]["Privileged"], name
        for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", f"{name} publishes {port} on {binding}"
    # moto, the twin's AWS API, answers on loopback, and on the twin's gateway for the machines
    # (scripts/twin forwards it there), as does the metadata service: nowhere else.
    gateway = twin.state["gateway"]
    assert ipaddress.ip_address(gateway) in ipaddress.ip_network(twin.state["vpc_cidr"])
    for port, expected in ((5000, {"127.0.0.1", gateway}), (8169, {gateway})):
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                                   text=True, check=True).stdout.split("\n")
        addresses = {line.split()[3].rsplit(":", 1)[0] for line in listening if line.strip()}
        assert addresses == expected, (port, addresses)
