"""The bastion: hardened sshd, a jump host limited by PermitOpen, fail2ban, operator ssh_config.

Tests that speak SSH run the ssh client (and ssh-audit, ansible) on the controller against the
bastion's address on the scenario network, as an operator would; the fail2ban test runs inside
the bastion, from a loopback address of its own.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
from ideation_testinfra import assert_running, default_ipv4, http

testinfra_hosts = ["bastion-jump"]

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
KEY = EPHEMERAL / "operator_ed25519"
SHIPPED_SSH_CONFIG = EPHEMERAL / "ssh_config.molecule"
ROLE = Path(__file__).resolve().parents[3]
REPOSITORY = ROLE.parents[1]
INVENTORY_SNIPPET = ROLE / "examples" / "group_vars_all_bastion_ssh.yml"
VENV_BIN = Path(sys.executable).parent
# ssh-audit's built-in policy for Debian 12's OpenSSH 9.2p1 (strict KEX backported).
SSH_AUDIT_POLICY = "Hardened Debian 12 (version 3)"
OPERATOR = "alice"
OFFENDER = "127.0.0.2"  # a loopback address of the bastion's own, banned by the fail2ban test
ADMIN = "127.0.0.3"  # the admin network's address (group_vars/bastion.yml): never banned
DATABASE_ENDPOINT = "db.bastion.test:5432"  # group_vars/bastion.yml


@pytest.fixture(scope="module")
def target():
    """The private host behind the bastion."""
    return testinfra.get_host(
        "ansible://bastion-target", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


@pytest.fixture(scope="module")
def bastion_ip(host) -> str:
    return default_ipv4(host)


@pytest.fixture(scope="module")
def target_ip(target) -> str:
    return default_ipv4(target)


@pytest.fixture(scope="module")
def client_config(tmp_path_factory) -> Path:
    """A controller-side ssh config: the operator's key, no host key prompts, never a password.

    ssh hands -F on to the ProxyJump hop, so these settings hold for both hops.
    """
    path = tmp_path_factory.mktemp("ssh") / "config"
    path.write_text(
        "Host *\n"
        f"    IdentityFile {KEY}\n"
        "    IdentitiesOnly yes\n"
        "    BatchMode yes\n"
        "    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
        "    ConnectTimeout 10\n"
    )
    return path


def ssh(config: Path, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run the controller's ssh client with a config file."""
    return subprocess.run(
        ["ssh", "-F", str(config), *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )


def effective_sshd(host, user: str) -> list[str]:
    """sshd's effective settings (sshd -T) for a login of user from a remote address."""
    spec = f"user={user},host=client.invalid,addr=192.0.2.10,laddr=192.0.2.20,lport=22"
    result = host.run(f"/usr/sbin/sshd -T -C {spec}")
    assert result.rc == 0, result.stderr
    return result.stdout.splitlines()


def test_hardening_holds_against_the_cloud_init_dropin(host):
    assert_running(host, "ssh")
    dropin = host.file("/etc/ssh/sshd_config.d/50-cloud-init.conf")
    assert dropin.contains("^PasswordAuthentication yes$"), "prepare's hostile drop-in is gone"
    settings = effective_sshd(host, OPERATOR)
    for expected in [
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "authenticationmethods publickey",
        "permitrootlogin no",
        "allowgroups operators",
        "maxauthtries 3",
        "logingracetime 30",
        "clientaliveinterval 300",
        "clientalivecountmax 3",
        "loglevel VERBOSE",
        "x11forwarding no",
        "allowagentforwarding no",
        "permittunnel no",
        "allowtcpforwarding local",
    ]:
        assert expected in settings, f"{expected!r} not in effect"


def test_a_dropin_match_block_fails_the_check_before_any_reload(host):
    live = host.run("/usr/local/sbin/bastion-sshd-check")
    assert live.rc == 0, live.stderr
    script = (
        "dir=$(mktemp -d); "
        "sed \"s|^Include .*|Include $dir/*.conf|\" /etc/ssh/sshd_config > \"$dir/sshd_config\"; "
        "printf 'Match all\\n    PasswordAuthentication yes\\n' > \"$dir/50-evil.conf\"; "
        "/usr/local/sbin/bastion-sshd-check \"$dir/sshd_config\"; status=$?; "
        "rm -rf \"$dir\"; exit $status"
    )
    hostile = host.run(f"sh -c {shlex.quote(script)}")
    assert hostile.rc == 1
    assert "passwordauthentication yes" in hostile.stderr


def test_host_keys_are_ed25519_and_rsa_4096_only(host):
    settings = effective_sshd(host, OPERATOR)
    assert [s for s in settings if s.startswith("hostkey ")] == [
        "hostkey /etc/ssh/ssh_host_ed25519_key",
        "hostkey /etc/ssh/ssh_host_rsa_key",
    ]
    assert host.run("ssh-keygen -lf /etc/ssh/ssh_host_rsa_key.pub").stdout.startswith("4096 ")


def test_ssh_audit_passes_the_hardened_policy(bastion_ip, target_ip):
    audit = [str(VENV_BIN / "ssh-audit"), "-n", "-P", SSH_AUDIT_POLICY]
    bastion = subprocess.run([*audit, bastion_ip], capture_output=True, text=True, check=False)
    assert bastion.returncode == 0, bastion.stdout + bastion.stderr
    assert "Passed" in bastion.stdout
    # The same policy fails Debian's stock sshd (the target's): the audit can tell them apart.
    stock = subprocess.run([*audit, target_ip], capture_output=True, text=True, check=False)
    assert stock.returncode != 0, stock.stdout


def test_operator_jumps_to_the_private_host_with_a_key(client_config, bastion_ip, target_ip):
    result = ssh(client_config, "-J", f"{OPERATOR}@{bastion_ip}", f"{OPERATOR}@{target_ip}",
                 "id -un; hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [OPERATOR, "bastion-target"]


def test_permitopen_is_rendered_from_the_inventory(host, target_ip):
    operator = effective_sshd(host, OPERATOR)
    # dev's matrix lets the bastion reach API hosts on 22 only, and the database on 5432.
    assert f"permitopen {target_ip}:22 {DATABASE_ENDPOINT}" in operator
    nobody = effective_sshd(host, "root")
    assert "allowtcpforwarding no" in nobody
    assert "permitopen none" in nobody


def test_forward_outside_permitopen_is_refused_by_sshd(host, client_config, bastion_ip, target_ip):
    # The target's node exporter answers the bastion over the network...
    assert http(host, f"http://{target_ip}:9100/metrics").status == 200
    # ...yet sshd refuses to forward an operator there.
    result = ssh(client_config, "-o", "LogLevel=INFO", "-W", f"{target_ip}:9100",
                 f"{OPERATOR}@{bastion_ip}")
    assert result.returncode != 0
    assert "administratively prohibited" in result.stderr, result.stderr
    refusal = f"to connect to host {target_ip} port 9100, but the request was denied"
    assert refusal in host.run("journalctl -u ssh --no-pager --since -10min").stdout
    # A permitted destination is forwarded: the target's sshd greets through the tunnel.
    allowed = ssh(client_config, "-W", f"{target_ip}:22", f"{OPERATOR}@{bastion_ip}")
    assert allowed.stdout.startswith("SSH-2.0-OpenSSH"), allowed.stderr


def test_remote_forwarding_is_refused(client_config, bastion_ip):
    result = ssh(client_config, "-N", "-o", "ExitOnForwardFailure=yes",
                 "-R", "127.0.0.1:2222:127.0.0.1:22", f"{OPERATOR}@{bastion_ip}")
    assert result.returncode != 0
    assert "remote port forwarding failed" in result.stderr, result.stderr


def test_password_login_is_not_even_offered(client_config, bastion_ip):
    result = ssh(client_config, "-o", "PubkeyAuthentication=no",
                 "-o", "PreferredAuthentications=password,keyboard-interactive",
                 f"{OPERATOR}@{bastion_ip}", "true")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr, result.stderr


@pytest.mark.parametrize("user", ["root", "intruder"])
def test_valid_key_of_a_non_operator_is_refused(client_config, bastion_ip, user):
    # prepare.yml put the operator's key in root's and intruder's authorized_keys.
    result = ssh(client_config, f"{user}@{bastion_ip}", "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr, result.stderr


@pytest.fixture()
def offender_unbanned(host):
    """Lift the fail2ban test's ban afterwards, whatever happened."""
    yield OFFENDER
    host.run(f"fail2ban-client set sshd unbanip {OFFENDER}")


def bastion_ssh_from(host, source: str) -> str:
    """Try to log in to the bastion's sshd from one of its loopback addresses; ssh's complaint."""
    # timeout: a connection the ban cuts mid-handshake would otherwise retransmit for minutes.
    return host.run(
        f"timeout 10 ssh -b {source} -o BatchMode=yes -o ConnectTimeout=5 "
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null nosuchuser@127.0.0.1 true"
    ).stderr


def test_repeated_failures_get_an_address_banned(host, offender_unbanned):
    assert_running(host, "fail2ban")
    assert "Permission denied" in bastion_ssh_from(host, offender_unbanned)
    # Fail again (maxretry is 3 here) until the offender's connections are refused.
    deadline = time.monotonic() + 60
    while "Connection refused" not in bastion_ssh_from(host, offender_unbanned):
        assert time.monotonic() < deadline, "repeated failures never got the offender refused"
        time.sleep(1)
    # fail2ban banned it, with a firewall rule: refused before sshd sees it...
    banned = host.run("fail2ban-client status sshd").stdout.split("Banned IP list:", 1)[1]
    assert offender_unbanned in banned.split()
    assert offender_unbanned in host.run("nft list set inet f2b-table addr-set-sshd").stdout
    # ...while every other address still reaches sshd.
    assert "Permission denied" in bastion_ssh_from(host, "127.0.0.1")


def test_the_admin_network_is_in_fail2bans_ignoreip(host):
    """The CIDRs the security group admits on SSH reach the jail, and the running fail2ban."""
    jail = host.file("/etc/fail2ban/jail.d/ideation-sshd.local").content_string
    ignoreip = next(line for line in jail.splitlines() if line.startswith("ignoreip ="))
    assert f"{ADMIN}/32" in ignoreip.split(), ignoreip
    listed = host.run("fail2ban-client get sshd ignoreip")
    assert listed.rc == 0, listed.stderr
    # fail2ban lists a single address without its /32: "|- 127.0.0.3"
    entries = [line.lstrip("|`- ").strip() for line in listed.stdout.splitlines()[1:]]
    assert ADMIN in entries or f"{ADMIN}/32" in entries, listed.stdout


@pytest.fixture()
def admin_unbanned(host):
    """Lift a ban of the admin address should the test below fail."""
    yield ADMIN
    host.run(f"fail2ban-client set sshd unbanip {ADMIN}")


def test_the_admin_network_is_never_banned(host, admin_unbanned):
    """Twice maxretry failures from the admin network (an ssh-audit run, a wrong key) leave it
    reaching sshd."""
    assert_running(host, "fail2ban")
    for _ in range(7):
        assert "Permission denied" in bastion_ssh_from(host, admin_unbanned)
    time.sleep(3)  # fail2ban reads the journal asynchronously: give a ban time to land
    assert "Permission denied" in bastion_ssh_from(host, admin_unbanned)
    banned = host.run("fail2ban-client status sshd").stdout.split("Banned IP list:", 1)[1]
    assert admin_unbanned not in banned.split()


def test_shipped_ssh_config_reaches_the_private_host(target_ip):
    """The operator ssh_config works as written: bastion key pinned, ProxyJump, user and key."""
    assert f"HostName {target_ip}" in SHIPPED_SSH_CONFIG.read_text()
    result = subprocess.run(
        ["ssh", "-F", str(SHIPPED_SSH_CONFIG), "-o", "BatchMode=yes", "bastion-target",
         "id -un; hostname"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [OPERATOR, "bastion-target"]


def test_ansible_reaches_the_private_host_with_the_inventory_snippet(
    tmp_path, client_config, bastion_ip, target_ip
):
    """examples/group_vars_all_bastion_ssh.yml, as shipped, sends Ansible through the bastion."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    shutil.copy(INVENTORY_SNIPPET, inventory / "group_vars" / "all" / "bastion_ssh.yml")
    (inventory / "hosts.yml").write_text(
        "all:\n"
        "  vars:\n"
        f"    ansible_user: {OPERATOR}\n"
        f"    platform_bastion_user: {OPERATOR}\n"
        f"    ansible_ssh_extra_args: -F {client_config}\n"
        "  children:\n"
        "    bastion:\n"
        f"      hosts: {{jump: {{ansible_host: {bastion_ip}, public_ip_address: {bastion_ip}}}}}\n"
        "    api:\n"
        f"      hosts: {{private: {{ansible_host: {target_ip}}}}}\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "private", "-i", str(inventory), "-m", "ansible.builtin.shell",
         "-a", 'hostname; echo "from ${SSH_CONNECTION%% *}"'],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "private | CHANGED | rc=0 >>\nbastion-target\n" in result.stdout
    # The private host saw the login come from the bastion, not from the controller (which can
    # reach it directly on the scenario network): the connection went through the jump host.
    # Asserted on the host's side so that it holds for any connection plugin (Mitogen's too).
    assert f"from {bastion_ip}\n" in result.stdout + "\n", result.stdout


@pytest.mark.parametrize("allow_groups, admitted", [("operators", True), ("adm", False)])
def test_preflight_refuses_a_run_that_would_lock_ansible_out(
    tmp_path, client_config, bastion_ip, allow_groups, admitted
):
    """Over SSH as an operator, the preflight passes unless the hardening would shut it out."""
    (tmp_path / "hosts.yml").write_text(
        "bastion:\n"
        f"  hosts: {{jump: {{ansible_host: {bastion_ip}, ansible_user: {OPERATOR}, "
        f"ansible_ssh_extra_args: -F {client_config}}}}}\n"
    )
    # The scenario's host keys are new on every run; Ansible's own setting turns the check off
    # (Mitogen's connection puts StrictHostKeyChecking on ssh's command line, where it overrides
    # the client config's).
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(REPOSITORY / ".collections"),
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
         str(REPOSITORY / "playbooks" / "bastion.yml"), "--tags", "bastion_preflight",
         "-e", f'{{"bastion_sshd_allow_groups": ["{allow_groups}"]}}'],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    if admitted:
        assert result.returncode == 0, result.stdout[-3000:]
    else:
        assert result.returncode != 0
        assert f"Ansible logs in to jump as {OPERATOR}" in result.stdout, result.stdout[-3000:]
