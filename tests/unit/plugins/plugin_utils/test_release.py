"""Release artifacts: ids, the manifest, and the refusal of secret values (docs/releases.md)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.release_id import release_id as id_filter
from ansible_collections.ideation.platform.plugins.filter.release_refuse_secrets import (
    release_refuse_secrets,
)
from ansible_collections.ideation.platform.plugins.plugin_utils.release import (
    build_manifest,
    check_release_id,
    hash_tree,
    refuse_secrets,
    release_id,
    secret_findings,
)

ROOT = Path(__file__).resolve().parents[4]
COMMIT = "9d465a0c1b2e3f405162738495a6b7c8d9e0f1a2"
SHA = hashlib.sha256(b"x").hexdigest()


# -- ids -------------------------------------------------------------------------------------


def test_release_id_is_utc_time_then_commit():
    assert release_id("2026-12-06T11:33:36Z", COMMIT) == "20261206T113336Z-9d465a0c1b2e"
    local = datetime(2026, 12, 6, 12, 33, 36, tzinfo=timezone(timedelta(hours=1)))
    assert release_id(local, COMMIT.upper()) == "20261206T113336Z-9d465a0c1b2e"


def test_release_ids_sort_by_build_time():
    times = ["2026-12-06T09:59:59Z", "2026-12-06T10:00:00Z", "2027-01-01T00:00:00Z"]
    ids = [release_id(t, c) for t, c in zip(times, ("fff0000", "0000000", "aaaaaaa"), strict=True)]
    assert sorted(ids) == ids


@pytest.mark.parametrize(
    ("created", "commit", "message"),
    [
        ("2026-12-06T11:33:36", COMMIT, "no time zone"),
        ("yesterday", COMMIT, "not an ISO 8601 time"),
        ("2026-12-06T11:33:36Z", "main", "not a git commit"),
        ("2026-12-06T11:33:36Z", "9d465a", "not a git commit"),
    ],
)
def test_release_id_rejects(created, commit, message):
    with pytest.raises(ValueError, match=message):
        release_id(created, commit)


@pytest.mark.parametrize(
    "value",
    ["20261206T113336Z-9d465a0c1b2e", "20261206T113336Z-9d465a0"],
)
def test_check_release_id_accepts_what_release_id_makes(value):
    assert check_release_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "none", "latest", "20261206T113336Z", "20261206T113336Z-9D465A0", "../x",
     "20261206T113336Z-9d465a0c1b2e.tar.gz", 42],
)
def test_check_release_id_rejects(value):
    with pytest.raises(ValueError, match="is not a release id"):
        check_release_id(value)


def test_release_id_filter_names_itself():
    assert id_filter("20261206T113336Z-9d465a0", check=True) == "20261206T113336Z-9d465a0"
    with pytest.raises(AnsibleFilterError, match=r"^ideation.platform.release_id: 'none' is not"):
        id_filter("none", check=True)


# -- manifest --------------------------------------------------------------------------------


def test_hash_tree_hashes_every_file_but_the_manifest(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "a.whl").write_bytes(b"wheel")
    (tmp_path / "b.txt").write_bytes(b"")
    (tmp_path / "manifest.json").write_text("{}")
    assert hash_tree(tmp_path) == {
        "b.txt": hashlib.sha256(b"").hexdigest(),
        "wheels/a.whl": hashlib.sha256(b"wheel").hexdigest(),
    }


def test_manifest_says_what_where_from_and_each_hash():
    manifest = build_manifest(
        "20261206T113336Z-9d465a0c1b2e", COMMIT, "2026-12-06T11:33:36+00:00",
        {"z.txt": SHA, "a.txt": SHA}, environment="dev",
    )
    assert manifest == {
        "format": 1,
        "release": "20261206T113336Z-9d465a0c1b2e",
        "commit": COMMIT,
        "created": "2026-12-06T11:33:36Z",
        "environment": "dev",
        "files": {"a.txt": SHA, "z.txt": SHA},
    }
    assert list(manifest["files"]) == ["a.txt", "z.txt"]


@pytest.mark.parametrize(
    ("release", "files", "message"),
    [
        ("20261206T113336Z-9d465a0c1b2e", {}, "without files"),
        ("20261206T113336Z-9d465a0c1b2e", {"a": "abc"}, "not a sha256"),
        ("20261206T113336Z-9d465a0c1b2e", {"../a": SHA}, "not a file a release may carry"),
        ("20261206T113336Z-9d465a0c1b2e", {"manifest.json": SHA}, "not a file"),
        ("20261206T113336Z-0000000", {"a": SHA}, "was not built from commit"),
        ("latest", {"a": SHA}, "not a release id"),
    ],
)
def test_manifest_rejects(release, files, message):
    with pytest.raises(ValueError, match=message):
        build_manifest(release, COMMIT, datetime(2026, 12, 6, tzinfo=UTC), files)


# -- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("grafana_admin_password: hunter2\n", "grafana_admin_password holds a literal value"),
        ("jwt_secret: abc\n", "jwt_secret holds a literal"),
        ("grafana_secret_key: abc\n", "grafana_secret_key holds a literal"),
        ("nginx_tls_certificate_key: abc\n", "nginx_tls_certificate_key holds a literal"),
        ("github_token: abc\n", "github_token holds a literal"),
        ("users:\n  - name: app\n    password: abc\n", "users[0].password holds a literal"),
        ("basic_auth_password: !unsafe '{{ x }}'\n", "basic_auth_password holds a literal"),
        ("db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n", "is vault-encrypted"),
        ("anything: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n", "anything is vault-enc"),
        ("$ANSIBLE_VAULT;1.1;AES256\n616263\n", "the whole file is vault-encrypted"),
        ("tls: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MII\n", "tls holds a private key"),
        ("a: [unclosed\n", "not YAML"),
    ],
)
def test_secret_values_are_found(text, finding):
    findings = secret_findings({"all/x.yml": text})
    assert len(findings) == 1
    assert findings[0].startswith("all/x.yml: ")
    assert finding in findings[0]


@pytest.mark.parametrize(
    "text",
    [
        "db_password: \"{{ lookup('amazon.aws.secretsmanager_secret', name) }}\"\n",
        "platform_secrets:\n  db_password: \"{{ platform_secret_prefix }}db/password\"\n",
        "platform_secret_prefix: ideation/dev/\n",
        "api_database_secret_id: ideation/db/password\n",
        "aws_ssh_key_name: ''\n",
        "aws_teardown_secret_recovery_days: 30\n",
        "use_token: true\n",
        "password: ''\n",
        "ssh_keys:\n  - \"{{ lookup('file', 'id.pub') }}\"\n",
        "nginx_server_name: example.com\n",
        "celery_flower_basic_auth: [\"prometheus:{{ pw }}\"]\n",
    ],
)
def test_names_references_and_lookups_pass(text):
    assert secret_findings({"all/x.yml": text}) == []


def test_refusal_lists_every_finding_and_says_what_to_do():
    files = {"all/b.yml": "b_password: v4lue-b\n", "all/a.yml": "a_token: v4lue-a\nc_secret: z\n"}
    with pytest.raises(ValueError) as raised:
        refuse_secrets(files)
    message = str(raised.value)
    assert "refusing to package a secret value" in message
    assert "secretsmanager_secret" in message and "release_group_vars_exclude" in message
    assert message.index("all/a.yml: a_token") < message.index("all/a.yml: c_secret")
    assert message.index("all/a.yml: c_secret") < message.index("all/b.yml: b_password")
    assert "v4lue" not in message  # the refusal never echoes a value
    assert refuse_secrets({"all/b.yml": "b: 1\n", "all/a.yml": ""}) == ["all/a.yml", "all/b.yml"]


def test_filter_refusal_names_the_filter():
    with pytest.raises(AnsibleFilterError, match=r"^ideation\.platform\.release_refuse_secrets: "):
        release_refuse_secrets({"x.yml": "api_key: abc\n"})


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_shipped_inventories_hold_no_secret_value(env):
    files = {str(p): p.read_text() for p in (ROOT / "inventories" / env / "group_vars").rglob("*")
             if p.is_file()}
    assert files
    assert secret_findings(files) == []


def test_dev_twin_fixed_credentials_are_refused():
    """dev's twin.yml holds fixed dev credentials: dev's inventory leaves it out of releases."""
    twin = ROOT / "inventories/dev/group_vars/all/twin.yml"
    findings = secret_findings({"all/twin.yml": twin.read_text()})
    assert {f.split(": ")[1].split()[0] for f in findings} >= {
        "grafana_admin_password", "pgbouncer_exporter_password"}
