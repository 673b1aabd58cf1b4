"""certbot gets the certificate from Pebble through the role's nginx; renewals reload nginx."""

from __future__ import annotations

import re
import time

import pytest
from ideation_testinfra import assert_running, http

SITE = "ideation.example.com"
API = "api.ideation.example.com"
LIVE = "/etc/letsencrypt/live/ideation"
PEBBLE_CA = "/etc/pebble/ca.crt"  # the CA of Pebble's own endpoint, not of what it issues


def served_serial(host, name: str = SITE) -> str:
    """Serial number of the certificate nginx presents for a name."""
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null "
        "| openssl x509 -noout -serial"
    )


def file_serial(host, path: str) -> str:
    return host.check_output(f"openssl x509 -noout -serial -in {path}")


def pebble_root(host) -> str:
    """Pebble makes a new root at every start; its management endpoint hands it out."""
    path = "/tmp/pebble-issuance-root.pem"
    host.check_output(f"curl -sS --cacert {PEBBLE_CA} -o {path} https://127.0.0.1:15000/roots/0")
    return path


def test_nginx_runs(host):
    assert_running(host, "nginx")


def test_nginx_serves_the_certificate_certbot_obtained(host):
    # Links to certbot's live names (which certbot repoints at each renewal), not to archive files.
    assert host.check_output("readlink /etc/nginx/tls/ideation.crt") == f"{LIVE}/fullchain.pem"
    assert host.check_output("readlink /etc/nginx/tls/ideation.key") == f"{LIVE}/privkey.pem"
    for name in (SITE, API):
        assert served_serial(host, name) == file_serial(host, f"{LIVE}/cert.pem")


@pytest.mark.parametrize("name", [SITE, API])
def test_the_served_chain_verifies_against_pebble_s_root(host, name):
    root = pebble_root(host)
    result = host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} -CAfile {root} "
        f"-verify_hostname {name} -verify_return_error </dev/null 2>&1"
    )
    assert result.rc == 0, result.stdout
    assert "Verify return code: 0 (ok)" in result.stdout
    assert re.search(r"issuer=.*Pebble Intermediate CA", result.stdout), result.stdout


def test_https_answers_with_the_issued_certificate(host):
    root = pebble_root(host)
    response = http(host, f"https://{SITE}/", "--cacert", root)
    assert response.headers["strict-transport-security"] == "max-age=63072000"


def test_renewal_is_scheduled_and_trusts_the_acme_server(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running
    environment = host.check_output("systemctl show --property Environment --value certbot.service")
    assert f"REQUESTS_CA_BUNDLE={PEBBLE_CA}" in environment.split()
    renewal = host.file("/etc/letsencrypt/renewal/ideation.conf").content_string
    assert "server = https://127.0.0.1:14000/dir" in renewal
    assert "authenticator = webroot" in renewal


def test_a_forced_renewal_runs_the_deploy_hook_which_reloads_nginx(host):
    before = served_serial(host)
    pid = host.check_output("systemctl show --property MainPID --value nginx")
    cursor = host.check_output(
        "journalctl --show-cursor -n 0 --no-pager | sed -n 's/^-- cursor: //p'"
    )
    # certbot with the renewal timer's environment (REQUESTS_CA_BUNDLE from the role's drop-in).
    renew = host.run(
        "env $(systemctl show --property Environment --value certbot.service) "
        "certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive"
    )
    assert renew.rc == 0, renew.stdout + renew.stderr
    renewed = file_serial(host, f"{LIVE}/cert.pem")
    assert renewed != before
    for _ in range(20):  # a reload is asynchronous: new workers take over within moments
        if served_serial(host) == renewed:
            break
        time.sleep(0.5)
    assert served_serial(host) == renewed
    assert host.check_output("systemctl show --property MainPID --value nginx") == pid  # reload
    journal = host.check_output(f"journalctl --no-pager --after-cursor '{cursor}'")
    assert "nginx configuration tested, nginx reloaded" in journal, journal
    assert "Reloaded nginx.service" in journal, journal
