"""playbooks/release.yml builds dev's release and uploads it; release-pointer.yml moves the
pointer only to a release that exists (docs/releases.md). On one moto server, with the bucket,
key and pointer made directly with boto3 (test_provision_* cover how provisioning makes them).

One release.yml run with the wheel download (the `released` fixture); the others fail before
downloading or only move the pointer.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import leaks
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
BUCKET = "ideation-dev-artifacts"
POINTER = "/ideation/dev/release/current"
RELEASE = re.compile(r"Release (\d{8}T\d{6}Z-[0-9a-f]{12}) is s3://")
PACKAGES = ("ansible-core", "boto3", "botocore", "s3transfer")
# The twin's fixed dev credentials (inventories/dev/group_vars/all/twin.yml).
TWIN_SECRETS = ("grafana_admin_password", "grafana_secret_key", "pgbouncer_exporter_password",
                "dev_twin_flower_password")


@pytest.fixture(scope="module")
def account(moto_server: Any) -> dict[str, str]:
    """What provisioning makes for releases: the key, the artifacts bucket, the pointer; and
    dev's secrets, with values to look for in the release."""
    kms = moto_server.client("kms")
    key_arn = kms.create_key(Description="ideation dev")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/ideation-dev", TargetKeyId=key_arn)
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                               "KMSMasterKeyID": key_arn}}]})
    moto_server.client("ssm").put_parameter(Name=POINTER, Value="none", Type="String")
    sm = moto_server.client("secretsmanager")
    values = {}
    for name in ("db/password", "jwt/secret", "api/key"):
        values[name] = sm.get_random_password(PasswordLength=32)["RandomPassword"]
        sm.create_secret(Name=f"ideation/dev/{name}", SecretString=values[name])
    return {"key_arn": key_arn, **values}


def build_dir(ansible: Any) -> list[str]:
    """Keep the test's tarballs out of the checkout's .cache/releases."""
    return ["-e", json.dumps({"release_build_dir": str(ansible.workdir / "releases")})]


@pytest.fixture(scope="module")
def released(ansible: Any, account: dict[str, str]) -> tuple[Any, str]:
    run = ansible.playbook("release.yml", "dev", *build_dir(ansible), "-vvv")  # leaks.py
    assert run.returncode == 0, run.tail(60)
    (release,) = RELEASE.findall(run.stdout)
    assert (ansible.workdir / "releases" / f"{release}.tar.gz").is_file()
    assert not (ansible.workdir / "releases" / release).exists()  # the build directory is gone
    print(f"release.yml with the wheel download: {run.seconds:.1f} s")
    return run, release


@pytest.fixture(scope="module")
def members(released: tuple[Any, str], moto_server: Any) -> dict[str, bytes]:
    """The release's files by name, downloaded from the bucket."""
    body = moto_server.client("s3").get_object(Bucket=BUCKET, Key=f"releases/{released[1]}.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read()), mode="r:gz") as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read()
                for m in tar.getmembers() if m.isfile()}


def secret_values(account: dict[str, str]) -> list[str]:
    twin = yaml.safe_load((REPO / "inventories/dev/group_vars/all/twin.yml").read_text())
    return [twin[k] for k in TWIN_SECRETS] + [v for k, v in account.items() if k != "key_arn"]


def test_release_is_uploaded_encrypted_with_the_platform_key(released, moto_server, account):
    head = moto_server.client("s3").head_object(Bucket=BUCKET,
                                                Key=f"releases/{released[1]}.tar.gz")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == account["key_arn"]
    body = moto_server.client("s3").get_object(Bucket=BUCKET, Key=f"releases/{released[1]}.tar.gz")
    assert head["Metadata"] == {"release": released[1],
                                "sha256": hashlib.sha256(body["Body"].read()).hexdigest()}


def test_release_does_not_move_the_pointer_by_default(released, moto_server):
    assert moto_server.client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"] == "none"


def test_manifest_names_the_commit_and_hashes_every_file(released, members):
    manifest = json.loads(members["manifest.json"])
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert manifest["release"] == released[1]
    assert manifest["commit"] == commit and released[1].endswith(commit[:12])
    assert manifest["environment"] == "dev"
    assert released[1].startswith(manifest["created"].replace("-", "").replace(":", ""))
    assert manifest["files"] == {name: hashlib.sha256(data).hexdigest()
                                 for name, data in members.items() if name != "manifest.json"}


def test_release_carries_the_collection(members):
    (name,) = [n for n in members if n.startswith("collection/")]
    assert re.fullmatch(r"collection/ideation-platform-[0-9.]+\.tar\.gz", name)
    with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:gz") as tar:
        names = tar.getnames()
        info = json.loads(tar.extractfile("MANIFEST.json").read())["collection_info"]
    assert (info["namespace"], info["name"]) == ("ideation", "platform")
    # The site playbook of an installed collection is ideation.platform.site (playbooks/).
    assert "roles/api/tasks/main.yml" in names and "playbooks/site.yml" in names
    assert "inventories/dev/group_vars/all/twin.yml" not in names
    assert not [n for n in names if n.startswith((".dev", ".cache", ".venv"))]


def test_release_carries_dev_group_vars_but_twin_yml(members):
    group_vars = REPO / "inventories/dev/group_vars"
    expected = {f"inventory/group_vars/{p.relative_to(group_vars)}": p.read_bytes()
                for p in group_vars.rglob("*") if p.is_file()}
    del expected["inventory/group_vars/all/twin.yml"]
    # The inventory sources too: an instance runs the environment's inventory limited to itself.
    expected.update({f"inventory/{p.name}": p.read_bytes()
                     for p in (REPO / "inventories/dev").glob("*.yml")})
    assert "inventory/aws_ec2.yml" in expected
    assert {n: d for n, d in members.items() if n.startswith("inventory/")} == expected


def test_release_carries_the_collections_it_depends_on_at_the_controllers_versions(members):
    dependencies = yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"]
    carried = {}
    for name, data in members.items():
        parts = name.split("/")
        if parts[0] == "collections" and parts[4:] == ["MANIFEST.json"]:
            info = json.loads(data)["collection_info"]
            carried[f"{info['namespace']}.{info['name']}"] = info["version"]
    installed = {fqcn: _installed_version(fqcn)
                 for fqcn in dependencies}
    assert carried == installed


def _installed_version(fqcn: str) -> str:
    import ansible_collections

    namespace, name = fqcn.split(".")
    for root in ansible_collections.__path__:
        manifest = Path(root) / namespace / name / "MANIFEST.json"
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    raise AssertionError(f"{fqcn} is not installed on the controller")


def test_release_carries_the_controllers_wheels(members, released):
    wheels = sorted(n.removeprefix("wheels/") for n in members if n.startswith("wheels/"))
    versions = {p: importlib.metadata.version(p) for p in PACKAGES}
    assert wheels == sorted(f"{p.replace('-', '_')}-{v}-py3-none-any.whl"
                            for p, v in versions.items())
    assert json.loads(members["manifest.json"])["packages"] == versions


def test_no_secret_value_in_the_release_or_its_output(members, released, account):
    values = secret_values(account)
    assert all(len(v) > 8 for v in values)
    blobs = list(members.values())
    (collection,) = [d for n, d in members.items() if n.startswith("collection/")]
    with tarfile.open(fileobj=io.BytesIO(collection), mode="r:gz") as tar:
        blobs += [tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()]
    leaked = [v[:4] + "..." for v in values if any(v.encode() in b for b in blobs)]
    assert leaked == []
    leaks.assert_no_secret_in(released[0].stdout + released[0].stderr, values)


def test_secret_values_are_refused_before_any_upload(ansible, released, moto_server, account):
    run = ansible.playbook("release.yml", "dev", *build_dir(ansible),
                           "-e", '{"release_group_vars_exclude": []}')
    assert run.returncode != 0
    assert "refusing to package a secret value" in run.stdout
    for key in TWIN_SECRETS:
        assert f"all/twin.yml: {key} holds a literal value" in run.stdout, run.tail(30)
    assert not [v for v in secret_values(account) if v in run.stdout + run.stderr]
    keys = moto_server.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [k["Key"] for k in keys] == [f"releases/{released[1]}.tar.gz"]


def pointer_playbook(tmp_path: Path, release: str) -> str:
    playbook = tmp_path / "move-pointer.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Move the release pointer", "hosts": "localhost", "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [
            {"name": "Move it", "ansible.builtin.include_tasks":
             str(REPO / "playbooks/runbooks/tasks/release-pointer.yml"),
             "vars": {"release_pointer_id": release}},
            {"name": "Show the previous release",
             "ansible.builtin.debug": {"msg": "previous={{ release_pointer_previous }}"}},
        ],
    }]))
    return str(playbook)


def test_pointer_refuses_a_release_that_is_not_in_the_bucket(ansible, released, moto_server,
                                                             tmp_path):
    missing = "20200101T000000Z-0123456789ab"
    run = ansible.run("ansible-playbook", pointer_playbook(tmp_path, missing), "-i",
                      "inventories/dev", *ansible.extra_vars())
    assert run.returncode != 0
    assert (f"Release {missing} is not in s3://{BUCKET}/releases/: the pointer stays where it "
            "is.") in run.stdout, run.tail(30)
    assert moto_server.client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"] == "none"


def test_pointer_moves_to_a_release_in_the_bucket(ansible, released, moto_server, tmp_path):
    run = ansible.run("ansible-playbook", pointer_playbook(tmp_path, released[1]), "-i",
                      "inventories/dev", *ansible.extra_vars())
    assert run.returncode == 0, run.tail(30)
    assert "msg: previous=none" in run.stdout, run.tail(30)
    assert moto_server.client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"] == (
        released[1])
