"""The baseline works: time sync, node exporter, update policy, operator accounts."""

from ideation_testinfra import assert_running, default_ipv4, http


def test_chrony_runs_and_answers(host):
    assert_running(host, "chrony")
    tracking = host.run("chronyc -n tracking")
    assert tracking.rc == 0, tracking.stderr
    assert "Reference ID" in tracking.stdout


def test_node_exporter_serves_metrics_on_the_private_address_only(host):
    assert_running(host, "prometheus-node-exporter")
    address = default_ipv4(host)
    response = http(host, f"http://{address}:9100/metrics")
    assert response.status == 200
    assert "node_cpu_seconds_total" in response.body
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":9100")]
    assert listening == [f"tcp://{address}:9100"]
    assert host.run("curl -s --max-time 3 http://127.0.0.1:9100/metrics").rc != 0


def test_unattended_upgrades_take_security_updates_only_and_never_reboot(host):
    config = host.run("apt-config dump").stdout
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    dry_run = host.run("unattended-upgrade --dry-run --debug 2>&1 | grep -m1 'Allowed origins are'")
    origins = dry_run.stdout.split("Allowed origins are:", 1)[1].strip()
    assert origins == "origin=Debian,codename=bookworm-security,label=Debian-Security", origins


def test_journal_is_bounded(host):
    effective = host.run("systemd-analyze cat-config systemd/journald.conf").stdout
    assert "SystemMaxUse=500M" in effective


def test_kernel_settings_are_written(host):
    settings = host.file("/etc/sysctl.d/60-ideation.conf")
    assert settings.contains("^net.ipv4.tcp_syncookies=1$")
    assert settings.contains("^kernel.kptr_restrict=2$")


def test_operator_logs_in_with_the_key(host):
    login = host.run(
        "ssh -i /root/operator_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null alice@127.0.0.1 'id -un; sudo -n true && echo sudo-ok'"
    )
    assert login.rc == 0, login.stderr
    assert login.stdout.split() == ["alice", "sudo-ok"]


def _login(host, user: str):
    return host.run(
        "ssh -i /root/operator_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no "
        f"-o UserKnownHostsFile=/dev/null {user}@127.0.0.1 'id -un; sudo -n true && echo sudo-ok'"
    )


def test_operator_with_sudo_false_logs_in_without_sudo(host):
    """bob had the sudo group and the group's sudoers line (prepare); sudo: false takes both."""
    login = _login(host, "bob")
    assert login.rc != 0
    assert login.stdout.split() == ["bob"], login.stdout
    assert "sudo" not in host.user("bob").groups
    assert "operators" in host.user("bob").groups
    assert "bob" not in host.file("/etc/sudoers.d/ideation-operators").content_string
    assert "is not allowed to run sudo" in host.run("sudo -l -U bob").stdout


def test_sudoers_names_the_operators_with_sudo_only(host):
    lines = [
        line
        for line in host.file("/etc/sudoers.d/ideation-operators").content_string.splitlines()
        if line and not line.startswith("#")
    ]
    assert lines == ["alice ALL=(ALL:ALL) NOPASSWD: ALL"]


def test_member_of_operators_not_in_the_list_is_removed(host):
    """stale was in the operators and sudo groups with the key (prepare); the list is exclusive."""
    assert not host.user("stale").exists
    assert not host.file("/home/stale").exists
    assert "stale" not in host.group("operators").members
    login = _login(host, "stale")
    assert login.rc == 255 and "Permission denied" in login.stderr, login.stderr


def test_password_login_is_impossible_for_operators(host):
    assert host.user("alice").password in ("!", "*", "!*")


def test_former_operator_is_gone(host):
    assert not host.user("former").exists
    assert not host.file("/home/former").exists
