"""The load balancer works: TLS, redirects, proxying, rate limits, static files, logs, validators.

side_effect.yml ran before these tests: it fed the role an invalid directive (in check mode and
for real), made the upstream list follow a stand-in of the api auto-scaling group
(nginx_upstream_source asg), and drained nginx-api2 with --tags nginx_upstream, recording what it
saw in /var/tmp/ideation-molecule. The tests of those side effects read that record.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from ideation_testinfra import assert_running, default_ipv4, http, metric_value

testinfra_hosts = ["nginx-lb"]

SITE = "ideation.example.com"
API = "api.ideation.example.com"
CA = "/etc/nginx/tls/dev-ca.crt"
RECORD = "/var/tmp/ideation-molecule"
# The scenario's strict limit (vars/nginx.yml): 6r/m with a burst of 3, so 4 writes pass at once.
STRICT_BURST = 3
MTAIL_PORT = 3903
REQUESTS = "http_requests_total"


def https(host, name: str, path: str, *curl_args: str, address: str = "127.0.0.1", **kwargs):
    """An HTTPS request to one of the served names, verified against the development CA."""
    return http(
        host,
        f"https://{name}{path}",
        "--resolve",
        f"{name}:443:{address}",
        "--cacert",
        CA,
        *curl_args,
        **kwargs,
    )


def statuses(
    host,
    count: int,
    url_name: str,
    path: str,
    *curl_args: str,
    address: str = "127.0.0.1",
    method: str = "POST",
) -> list[int]:
    """Status codes of `count` requests sent back to back from inside the host."""
    curl = shlex.join(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\\n",
            "-X",
            method,
            "--resolve",
            f"{url_name}:443:{address}",
            "--cacert",
            CA,
            *curl_args,
            f"https://{url_name}{path}",
        ]
    )
    result = host.run(f"for i in $(seq {count}); do {curl}; done")
    assert result.rc == 0, result.stderr
    return [int(code) for code in result.stdout.split()]


def record(host, name: str) -> str:
    return host.file(f"{RECORD}/{name}").content_string


@pytest.fixture(scope="module")
def mtail_url(host) -> str:
    return f"http://{default_ipv4(host)}:{MTAIL_PORT}/metrics"


def mtail_metrics(host, url: str) -> str:
    response = http(host, url)
    assert response.status == 200, response.body[:500]
    return response.body


def mtail_settled(host, url: str) -> str:
    """mtail's metrics once it has counted every request made so far (its count stands still).

    mtail reads the log every 250 ms: a count taken right after a request can miss it.
    """
    body = mtail_metrics(host, url)
    for _ in range(20):
        time.sleep(0.6)
        again = mtail_metrics(host, url)
        if metric_value(again, REQUESTS) == metric_value(body, REQUESTS):
            return again
        body = again
    raise AssertionError(f"mtail's request count does not settle:\n{body}")


def mtail_after(host, url: str, before: str, requests: int, timeout: float = 10.0) -> str:
    """mtail's metrics once it has counted `requests` more log lines than in `before`.

    mtail polls the log every 250 ms; waiting for the total keeps the exact per-label comparisons
    that follow free of timing. A count above the total shows up in those comparisons.
    """
    wanted = metric_value(before, REQUESTS) + requests
    deadline = time.monotonic() + timeout
    while True:
        body = mtail_metrics(host, url)
        if metric_value(body, REQUESTS) >= wanted or time.monotonic() > deadline:
            return body
        time.sleep(0.25)


def counted(before: str, after: str, **labels: str) -> float:
    """How many more requests with these labels mtail counted in `after` than in `before`."""
    return metric_value(after, REQUESTS, **labels) - metric_value(before, REQUESTS, **labels)


def test_nginx_the_exporter_and_mtail_run(host):
    assert_running(host, "nginx")
    assert_running(host, "prometheus-nginx-exporter")
    assert_running(host, "mtail")


def test_exporter_serves_nginx_metrics_on_the_private_address_only(host):
    address = default_ipv4(host)
    metrics = http(host, f"http://{address}:9113/metrics")
    assert metrics.status == 200
    assert re.search(r"^nginx_up 1$", metrics.body, re.M), metrics.body[:500]
    assert re.search(r"^nginx_connections_accepted \d+", metrics.body, re.M)
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":9113")]
    assert listening == [f"tcp://{address}:9113"]


def test_mtail_serves_log_metrics_on_the_private_address_only(host, mtail_url):
    address = default_ipv4(host)
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{MTAIL_PORT}")]
    assert listening == [f"tcp://{address}:{MTAIL_PORT}"]
    # mtail shows a metric once it has a sample.
    before = mtail_settled(host, mtail_url)
    assert https(host, SITE, "/").status == 200
    body = mtail_after(host, mtail_url, before, 1)
    assert "# TYPE http_requests_total counter" in body, body[:500]
    assert "# TYPE http_request_duration_seconds histogram" in body, body[:500]


def test_stub_status_answers_on_loopback_only(host):
    status = http(host, "http://127.0.0.1:8080/stub_status")
    assert status.status == 200
    assert status.body.startswith("Active connections:")
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":8080")]
    assert listening == ["tcp://127.0.0.1:8080"]


@pytest.mark.parametrize("name", [SITE, API])
def test_http_redirects_to_https_with_301(host, name):
    response = http(host, f"http://{name}/some/path?x=1", "--resolve", f"{name}:80:127.0.0.1")
    assert response.status == 301
    assert response.headers["location"] == f"https://{name}/some/path?x=1"


def test_acme_challenges_are_answered_over_http_from_the_webroot(host):
    token = uuid.uuid4().hex
    challenge = f"/var/www/acme/.well-known/acme-challenge/{token}"
    host.run(f"mkdir -p /var/www/acme/.well-known/acme-challenge && echo {token}.key > {challenge}")
    try:
        response = http(
            host,
            f"http://{SITE}/.well-known/acme-challenge/{token}",
            "--resolve",
            f"{SITE}:80:127.0.0.1",
        )
        assert response.status == 200
        assert response.body.strip() == f"{token}.key"
    finally:
        host.run(f"rm -f {challenge}")


def test_unknown_names_are_refused(host):
    plain = host.run("curl -sS --max-time 5 -H 'Host: unknown.example.org' http://127.0.0.1/")
    assert plain.rc == 52, plain.stderr  # empty reply: nginx closed the connection (444)
    tls = host.run(
        "openssl s_client -connect 127.0.0.1:443 -servername unknown.example.org </dev/null 2>&1"
    )
    assert tls.rc != 0
    assert "unrecognized name" in tls.stdout, tls.stdout  # ssl_reject_handshake's alert


@pytest.mark.parametrize(("flag", "protocol"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_work_and_verify(host, flag, protocol):
    result = host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {SITE} {flag} "
        f"-CAfile {CA} -verify_hostname {SITE} -verify_return_error </dev/null 2>&1"
    )
    assert result.rc == 0, result.stdout
    # Lines printed right after the handshake (the session block of TLS 1.3 may never come).
    negotiated = re.search(rf"^New, {re.escape(protocol)}, Cipher is ", result.stdout, re.M)
    assert negotiated, result.stdout
    assert "Verification: OK" in result.stdout
    assert f"Verified peername: {SITE}" in result.stdout


LEGACY = "-cipher 'DEFAULT:@SECLEVEL=0'"


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused(host, flag):
    # Control: the same client does complete a handshake with a server that allows the protocol,
    # so a refusal below is nginx's doing, not the client's.
    control = host.run(
        f"(sleep 3 | timeout 5 openssl s_server -accept 127.0.0.1:4433 -quiet -naccept 1 "
        f"-cert /etc/nginx/tls/ideation.crt -key /etc/nginx/tls/ideation.key {flag} {LEGACY} "
        f">/dev/null 2>&1 &) ; sleep 0.5; "
        f"openssl s_client -connect 127.0.0.1:4433 {flag} {LEGACY} </dev/null 2>&1"
    )
    assert control.rc == 0, (
        f"control handshake failed, the test would prove nothing:\n{control.stdout}"
    )
    refused = host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {SITE} {flag} {LEGACY} "
        "</dev/null 2>&1"
    )
    assert refused.rc != 0, refused.stdout
    assert "alert protocol version" in refused.stdout, refused.stdout


@pytest.mark.parametrize(
    ("name", "path"), [(SITE, "/"), (SITE, "/static/app.3f2a1b.js"), (API, "/api/ping")]
)
def test_hsts_csp_and_permissions_policy_on_every_https_response(host, name, path):
    response = https(host, name, path)
    assert response.status == 200
    assert response.headers["strict-transport-security"] == "max-age=63072000"
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    policy = {d.strip().partition(" ")[0]: d.strip().partition(" ")[2] for d in csp.split(";")}
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'", policy
    assert policy["object-src"] == "'none'" and "'unsafe-inline'" not in policy["script-src"]
    features = response.headers["permissions-policy"].split(", ")
    assert {"camera=()", "geolocation=()", "microphone=()"} <= set(features), features


def test_requests_reach_the_api_with_forwarding_headers(host):
    response = https(host, API, "/api/ideas?page=2")
    assert response.status == 200
    seen = response.json()
    assert seen["path"] == "/api/ideas?page=2"
    headers = seen["headers"]
    assert headers["host"] == API
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "https"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert response.headers["x-request-id"] == headers["x-request-id"]


def test_site_serves_the_api_under_api_and_the_health_check(host):
    for path in ("/api/ping", "/health"):
        response = https(host, SITE, path)
        assert response.status == 200, path
        assert response.json()["path"] == path


def test_client_address_comes_from_the_trusted_proxy(host):
    # Loopback is the scenario's trusted proxy (nginx_real_ip_from).
    response = https(host, API, "/api/ping", "-H", "X-Forwarded-For: 203.0.113.50")
    headers = response.json()["headers"]
    assert headers["x-real-ip"] == "203.0.113.50"


def test_submissions_beyond_the_burst_get_429_and_mtail_counts_each(host, mtail_url):
    # A client address no other test uses, through the trusted proxy: a fresh rate-limit bucket.
    client = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    before = mtail_settled(host, mtail_url)
    codes = statuses(
        host,
        STRICT_BURST + 5,
        API,
        "/api/ideas",
        "-H",
        f"X-Forwarded-For: {client}",
        "--data",
        "{}",
    )
    assert codes[: STRICT_BURST + 1] == [200] * (STRICT_BURST + 1), codes
    assert codes[STRICT_BURST + 1 :] == [429] * 4, codes
    # nginx's own 429s, and the 200s, as the nginx_log job's series.
    after = mtail_after(host, mtail_url, before, len(codes))
    assert counted(before, after) == len(codes), after
    assert counted(before, after, status="429", method="POST") == 4, after
    assert counted(before, after, status="200", method="POST") == STRICT_BURST + 1, after
    # Every request is in the duration histogram, the 429s answered in under a millisecond too.
    for name, labels in [("_count", {}), ("_bucket", {"le": "+Inf"})]:
        series = f"http_request_duration_seconds{name}"
        observed = metric_value(after, series, **labels) - metric_value(before, series, **labels)
        assert observed == len(codes), (series, labels, after)


def test_mtail_counts_the_real_status_not_one_written_in_the_uri(host, mtail_url):
    # The log escapes the quotes of this query, so it cannot pose as the status field.
    fake = '","status":429,"body_bytes_sent":0,"request_time":0.000,"upstream_addr":"'
    before = mtail_settled(host, mtail_url)
    code = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --resolve %s:443:127.0.0.1 --cacert %s %s",
        SITE,
        CA,
        f"https://{SITE}/static/missing.js?x={fake}",
    )
    assert code == "404"
    after = mtail_after(host, mtail_url, before, 1)
    assert counted(before, after) == 1, after
    assert counted(before, after, status="404", method="GET") == 1, after
    assert counted(before, after, status="429") == 0, after


def test_mtail_counts_unknown_methods_as_other(host, mtail_url):
    before = mtail_settled(host, mtail_url)
    codes = statuses(host, 1, SITE, "/static/app.3f2a1b.js", method="BREW")
    after = mtail_after(host, mtail_url, before, 1)
    assert counted(before, after, status=str(codes[0]), method="other") == 1, after
    assert "BREW" not in after


def test_mtail_follows_the_access_log_through_rotation(host, mtail_url):
    rotate = host.run("logrotate --force /etc/logrotate.d/nginx")
    assert rotate.rc == 0, rotate.stderr
    assert host.file("/var/log/nginx/access.log.1").exists
    before = mtail_settled(host, mtail_url)
    assert https(host, SITE, "/").status == 200
    after = mtail_after(host, mtail_url, before, 1)
    assert counted(before, after, status="200", method="GET") == 1, after


def test_sign_in_is_limited_on_the_site_name_too(host):
    client = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    codes = statuses(
        host,
        STRICT_BURST + 3,
        SITE,
        "/api/auth/login",
        "-H",
        f"X-Forwarded-For: {client}",
        "--data",
        "{}",
    )
    assert 429 in codes and codes[0] == 200, codes


def test_reads_are_not_held_to_the_strict_limit(host):
    client = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    codes = statuses(
        host, STRICT_BURST + 5, API, "/api/ideas", "-H", f"X-Forwarded-For: {client}", method="GET"
    )
    assert codes == [200] * (STRICT_BURST + 5), codes


def test_a_direct_client_is_limited(host):
    # From the host's own network address: neither allowlisted nor a trusted proxy.
    address = default_ipv4(host)
    codes = statuses(host, STRICT_BURST + 5, API, "/api/ideas", "--data", "{}", address=address)
    assert 429 in codes, codes
    assert set(codes) <= {200, 429}, codes


def test_allowlisted_clients_are_never_limited(host):
    codes = statuses(host, STRICT_BURST + 12, API, "/api/ideas", "--data", "{}")
    assert codes == [200] * (STRICT_BURST + 12), codes


def allowlist_entries(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]


def api1_address(host) -> str:
    upstream = host.file("/etc/nginx/ideation/upstream.conf").content_string
    found = re.search(r"server (\S+):8000 .*; # nginx-api1$", upstream, re.M)
    assert found, upstream
    return found[1]


def test_the_allowlist_is_the_monitoring_and_bastion_hosts_not_their_neighbours(host):
    """Source inventory (the drain ran last): the hosts' own addresses, from the inventory."""
    live = host.file("/etc/nginx/ideation/ratelimit-allowlist.conf").content_string
    assert allowlist_entries(live) == ["127.0.0.0/8", "192.0.2.21/32", "192.0.2.22/32", "::1/128"]
    for monitoring_or_bastion in ("192.0.2.21", "192.0.2.22"):
        codes = statuses(
            host,
            STRICT_BURST + 8,
            API,
            "/api/ideas",
            "-H",
            f"X-Forwarded-For: {monitoring_or_bastion}",
            "--data",
            "{}",
        )
        assert codes == [200] * (STRICT_BURST + 8), (monitoring_or_bastion, codes)
    # An API host (and any neighbour in the same subnet) is limited like anyone.
    for neighbour in (api1_address(host), "192.0.2.23"):
        codes = statuses(
            host,
            STRICT_BURST + 5,
            API,
            "/api/ideas",
            "-H",
            f"X-Forwarded-For: {neighbour}",
            "--data",
            "{}",
        )
        assert 429 in codes, (neighbour, codes)


def test_static_assets_are_cached_for_a_year_and_the_index_is_revalidated(host):
    asset = https(host, SITE, "/static/app.3f2a1b.js")
    assert asset.status == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    index = https(host, SITE, "/some/client/route")
    assert index.status == 200
    assert "<title>ideation</title>" in index.body
    assert index.headers["cache-control"] == "no-cache"
    assert https(host, SITE, "/static/missing.js").status == 404


def test_document_uploads_up_to_the_limit_are_accepted(host):
    under = host.run(
        f"head -c 20000000 /dev/zero | curl -s -o /dev/null -w '%{{http_code}}' "
        f"--resolve {API}:443:127.0.0.1 --cacert {CA} --data-binary @- "
        f"https://{API}/api/documents"
    )
    assert under.stdout == "200", under.stderr
    over = host.run(
        f"head -c 27000000 /dev/zero | curl -s -o /dev/null -w '%{{http_code}}' "
        f"--resolve {API}:443:127.0.0.1 --cacert {CA} --data-binary @- "
        f"https://{API}/api/documents"
    )
    assert over.stdout == "413", over.stderr


def test_access_log_is_one_json_object_per_request(host):
    marker = uuid.uuid4().hex
    response = https(host, API, f"/api/ping?marker={marker}")
    line = host.check_output(f"grep -F {marker} /var/log/nginx/access.log | tail -n 1")
    entry = json.loads(line)
    assert entry["request_id"] == response.headers["x-request-id"]
    assert entry["status"] == 200
    assert entry["host"] == API
    assert entry["uri"] == f"/api/ping?marker={marker}"
    assert entry["upstream_status"] == "200"
    assert entry["ssl_protocol"] in ("TLSv1.2", "TLSv1.3")
    # What the log shipper and a reader of /ideation/nginx/access need: the event time and the
    # upstream's timings.
    assert abs(entry["msec"] - time.time()) < 60
    assert entry["upstream_addr"]
    for key in ("upstream_response_time", "upstream_connect_time", "upstream_header_time"):
        assert float(entry[key]) >= 0, key


def test_gixy_finds_nothing_in_the_rendered_configuration(host, tmp_path):
    files = host.check_output(
        "cd /etc/nginx && find nginx.conf mime.types ideation modules-enabled -type f"
    ).split()
    assert "ideation/servers.conf" in files
    for name in files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        content = host.file(f"/etc/nginx/{name}").content_string
        # Absolute includes of package files point into the copy, not at this machine's /etc/nginx.
        target.write_text(content.replace("/etc/nginx/", f"{tmp_path}/"))
    gixy = Path(sys.executable).with_name("gixy")
    result = subprocess.run(
        [str(gixy), "-f", "json", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip(), f"gixy printed nothing: {result.stderr}"
    issues = json.loads(result.stdout)
    assert issues == [], json.dumps(issues, indent=2)


def test_sslyze_finds_the_tls_setup_compliant_with_mozilla_intermediate(host, tmp_path):
    ca = tmp_path / "dev-ca.crt"
    ca.write_text(host.file(CA).content_string)
    address = default_ipv4(host)  # this project's own container, on the scenario network
    sslyze = Path(sys.executable).with_name("sslyze")
    result = subprocess.run(
        [
            str(sslyze),
            "--mozilla_config=intermediate",
            f"--certinfo_ca_file={ca}",
            "--sni",
            SITE,
            f"{address}:443",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # sslyze exits 0 when it cannot connect at all: require the compliance verdict itself.
    assert result.returncode == 0 and f"{address}:443: OK - Compliant." in result.stdout, (
        result.stdout
    )


# --- side effects (side_effect.yml) -------------------------------------------------------------


@pytest.mark.parametrize("run", ["check-mode-failure.txt", "failure.txt"])
def test_an_invalid_directive_fails_with_nginx_s_message(host, run):
    message = record(host, run)
    assert 'unknown directive "ideation_no_such_directive"' in message, message
    assert "/etc/nginx is unchanged and nginx keeps serving the previous configuration" in message


def test_nginx_kept_serving_the_previous_configuration_after_the_failure(host):
    assert record(host, "config-after-failure") == record(host, "config-before")
    assert record(host, "https-after-failure") == "200"
    assert record(host, "staging-kept").strip() == "1"  # the rejected tree was left to look at
    assert (
        "ideation_no_such_directive"
        not in host.file("/etc/nginx/ideation/http.conf").content_string
    )


def test_config_changes_reload_nginx_without_restarting_it(host):
    pid = host.check_output("systemctl show --property MainPID --value nginx")
    assert pid == record(host, "pid-before").strip()


def test_staging_directory_is_removed_after_a_successful_run(host):
    assert not host.file("/etc/nginx/.staging").exists


def test_a_drained_host_gets_no_requests(host):
    before = {
        json.loads(line)["backend"]
        for line in record(host, "before-drain.jsonl").splitlines()
        if line
    }
    assert before == {"nginx-api1", "nginx-api2"}
    upstream = host.file("/etc/nginx/ideation/upstream.conf").content_string
    assert re.search(r"^\s*server \S+:8000 .* down; # nginx-api2 \(drained\)$", upstream, re.M), (
        upstream
    )
    after = {https(host, API, "/api/ping").json()["backend"] for _ in range(12)}
    assert after == {"nginx-api1"}


# --- the upstream list from the api group (nginx_upstream_source asg, side_effect.yml) ----------

SYNC = "ideation_upstream_sync"


def backends(host, name: str) -> list[str]:
    return [json.loads(line)["backend"] for line in record(host, name).splitlines() if line]


def sync_metric(host, name: str, metric: str) -> float:
    text = record(host, name)
    found = re.search(rf'^{SYNC}_{metric}{{group="ideation-molecule-api"}} (\S+)$', text, re.M)
    assert found, text
    return float(found[1])


def server(name: str, down: bool = False) -> str:
    drained = r" down; # " + re.escape(name) + r" \(drained\)" if down else "; # " + re.escape(name)
    return rf"^    server \d+\.\d+\.\d+\.\d+:8000 max_fails=3 fail_timeout=10s{drained}$"


def test_the_group_s_standby_instance_is_down_and_the_others_are_not_listed(host):
    first = record(host, "asg-1.conf")
    assert re.search(server("api-i-0api1"), first, re.M), first
    assert re.search(server("api-i-0api2", down=True), first, re.M), first
    assert "i-0leaving" not in first and "i-0gone" not in first, first
    assert "10.255.0." not in first, first
    assert "keepalive 32;" in first
    assert set(backends(host, "asg-1.jsonl")) == {"nginx-api1"}


def test_an_instance_back_in_service_gets_requests_after_a_reload(host):
    second = record(host, "asg-2.conf")
    assert re.search(server("api-i-0api2"), second, re.M), second
    assert set(backends(host, "asg-2.jsonl")) == {"nginx-api1", "nginx-api2"}
    assert record(host, "pid-asg").strip() == record(host, "pid-before").strip()
    assert sync_metric(host, "asg-ok.prom", "servers") == 2
    assert sync_metric(host, "asg-ok.prom", "reloads_total") >= 1
    assert sync_metric(host, "asg-ok.prom", "errors_total") == 0
    # Both stand-ins answer /ready: probed over the network, neither held down.
    assert sync_metric(host, "asg-ok.prom", "servers_not_ready") == 0
    ready = re.findall(
        rf'^{SYNC}_server_ready{{.*server="(\S+)"}} 1$', record(host, "asg-ok.prom"), re.M
    )
    assert ready == ["api-i-0api1", "api-i-0api2"], record(host, "asg-ok.prom")


def test_an_aws_api_error_keeps_the_last_list_and_shows_in_the_metric(host):
    assert record(host, "asg-error.conf") == record(host, "asg-2.conf")
    assert sync_metric(host, "asg-error.prom", "errors_total") >= 1
    assert sync_metric(host, "asg-error.prom", "servers") == 2
    stale = sync_metric(host, "asg-error.prom", "last_success_timestamp_seconds")
    fresh = sync_metric(host, "asg-ok.prom", "last_success_timestamp_seconds")
    assert 0 < fresh <= stale < fresh + 5  # it stopped moving once the API failed
    assert record(host, "asg-service-state").strip() == "active"


def codes(host, name: str) -> list[int]:
    return [int(code) for code in record(host, name).split()]


def test_the_sync_s_allowlist_is_the_groups_in_service_and_standby_hosts(host):
    first = allowlist_entries(record(host, "allow-1.conf"))
    # Not the inventory's monitoring and bastion hosts (192.0.2.21, .22), nor a leaving one (.34).
    assert first == ["127.0.0.0/8", "192.0.2.31/32", "192.0.2.33/32", "::1/128"]
    assert "ideation-molecule-monitoring" in record(host, "allow-1.conf")
    assert codes(host, "limits-monitoring-1") == [200] * 8
    # The bastion is in Standby (and unhealthy): its operator is still not limited.
    assert codes(host, "limits-bastion") == [200] * 8
    api = codes(host, "limits-api")
    assert api[: STRICT_BURST + 1] == [200] * (STRICT_BURST + 1) and 429 in api, api


def test_a_replaced_monitoring_host_s_new_address_is_admitted_and_the_old_one_limited(host):
    second = allowlist_entries(record(host, "allow-2.conf"))
    assert second == ["127.0.0.0/8", "192.0.2.32/32", "192.0.2.33/32", "::1/128"]
    assert codes(host, "limits-monitoring-new") == [200] * 8
    old = codes(host, "limits-monitoring-old")
    assert old[: STRICT_BURST + 1] == [200] * (STRICT_BURST + 1) and 429 in old, old
    # Reloaded, never restarted (the PID is read after this change).
    assert record(host, "pid-asg").strip() == record(host, "pid-before").strip()


def test_an_aws_api_error_keeps_the_last_allowlist(host):
    assert record(host, "allow-error.conf") == record(host, "allow-2.conf")


def test_an_inventory_run_stops_the_sync_service(host):
    """The drain (source inventory, --tags nginx_upstream) came after: the role owns the file."""
    assert not host.service("ideation-upstream-sync").is_running
    assert not host.service("ideation-upstream-sync").is_enabled
