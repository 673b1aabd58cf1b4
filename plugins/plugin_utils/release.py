"""Release artifacts (docs/releases.md): release ids, the manifest, and the refusal of secrets.

A release is what an instance needs to configure itself: the collection, the environment's
group_vars (names of secrets, never values) and pinned wheels. These helpers hold its rules so
that playbooks/release.yml calls them in one line each and tests run them in milliseconds.
PyYAML is the one import beyond the standard library: ansible-core requires it, so every
controller has it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"
# 20261206T113336Z-9d465a0c1b2e: sorts by time, names the commit, safe in S3 keys and SSM values.
RELEASE_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_CHARS = 12

# A key that names a secret holds a value only through a lookup resolved at converge time.
SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|token|credential|api_?key|private_?key|access_?key"
    r"|(^|_)key$",
    re.IGNORECASE,
)
# ...unless it says it holds a reference to one: its name, id, ARN, prefix, a path, a duration.
REFERENCE_KEY = re.compile(r"_(id|ids|name|names|arn|arns|prefix|path|file|days)$", re.IGNORECASE)
_PRIVATE_KEY_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def release_id(created: str | datetime, commit: str) -> str:
    """The id of a release built at `created` (UTC) from `commit`: time first, so ids sort."""
    when = _utc(created)
    commit = str(commit).strip().lower()
    if not _COMMIT.match(commit):
        raise ValueError(f"commit {commit!r} is not a git commit id (7 to 40 hex digits)")
    return f"{when:%Y%m%dT%H%M%SZ}-{commit[:_COMMIT_CHARS]}"


def check_release_id(value: str) -> str:
    """Return `value` if it is a release id as release_id() makes them; else ValueError."""
    if not isinstance(value, str) or not RELEASE_ID.match(value):
        raise ValueError(
            f"{value!r} is not a release id (like 20261206T113336Z-9d465a0c1b2e: UTC time of the "
            "build, then the commit)"
        )
    return value


def _utc(created: str | datetime) -> datetime:
    if isinstance(created, str):
        try:
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"created {created!r} is not an ISO 8601 time") from None
    if not isinstance(created, datetime):
        raise ValueError(f"created {created!r} is neither a time nor an ISO 8601 string")
    if created.tzinfo is None:
        raise ValueError(f"created {created.isoformat()} has no time zone; give it in UTC")
    return created.astimezone(UTC)


def hash_tree(root: str | Path) -> dict[str, str]:
    """sha256 of every regular file under `root` but the manifest, by POSIX path relative to it."""
    base = Path(root)
    if not base.is_dir():
        raise ValueError(f"{base} is not a directory")
    hashes = {}
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(base).as_posix()
        if path.is_file() and relative != MANIFEST_NAME:
            digest = hashlib.sha256()
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            hashes[relative] = digest.hexdigest()
    return hashes


def build_manifest(
    release: str,
    commit: str,
    created: str | datetime,
    files: Mapping[str, str],
    **extra: Any,
) -> dict[str, Any]:
    """The manifest of a release: what it is, where it came from, and each file's sha256."""
    check_release_id(release)
    if not files:
        raise ValueError("a release without files")
    for name, digest in files.items():
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ValueError(f"{name}: {digest!r} is not a sha256 hex digest")
        if name.startswith("/") or ".." in name.split("/") or name == MANIFEST_NAME:
            raise ValueError(f"{name!r} is not a file a release may carry")
    if not release.endswith(str(commit).lower()[:_COMMIT_CHARS]):
        raise ValueError(f"release {release} was not built from commit {commit}")
    return {
        "format": MANIFEST_FORMAT,
        "release": release,
        "commit": str(commit).lower(),
        "created": f"{_utc(created):%Y-%m-%dT%H:%M:%SZ}",
        **extra,
        "files": dict(sorted(files.items())),
    }


# -- refusing secret values ----------------------------------------------------------------


class _Vaulted(str):
    """A value tagged !vault: encrypted, but still a secret value."""


class _Unsafe(str):
    """A value tagged !unsafe: never templated, so '{{' in it is literal text."""


class _Loader(yaml.SafeLoader):
    """YAML as Ansible reads group_vars, keeping what the !vault and !unsafe tags say."""


_Loader.add_constructor("!vault", lambda loader, node: _Vaulted(loader.construct_scalar(node)))
_Loader.add_constructor("!unsafe", lambda loader, node: _Unsafe(loader.construct_scalar(node)))


def secret_findings(files: Mapping[str, str]) -> list[str]:
    """What makes each group_vars file unfit for a release: every vault-encrypted value, and
    every literal value under a key that names a secret. {name: YAML text} in, messages out."""
    findings = []
    for name, text in sorted(files.items()):
        if text.lstrip().startswith("$ANSIBLE_VAULT;"):
            findings.append(f"{name}: the whole file is vault-encrypted")
            continue
        try:
            documents = list(yaml.load_all(text, Loader=_Loader))
        except yaml.YAMLError as exc:
            findings.append(f"{name}: not YAML ({str(exc).splitlines()[0]})")
            continue
        for document in documents:
            for where, value in _leaves(document, "", ""):
                problem = _problem(where[1], value)
                if problem:
                    findings.append(f"{name}: {where[0]} {problem}")
    return findings


def refuse_secrets(files: Mapping[str, str]) -> list[str]:
    """The file names, sorted, if none holds a secret value; ValueError listing each otherwise."""
    findings = secret_findings(files)
    if findings:
        raise ValueError(
            "refusing to package a secret value; a release carries the names of secrets, never "
            "their values (read them at converge time with a lookup such as "
            "amazon.aws.secretsmanager_secret, or leave the file out with "
            "release_group_vars_exclude):\n  " + "\n  ".join(findings)
        )
    return sorted(files)


def _leaves(value: Any, path: str, key: str) -> Iterator[tuple[tuple[str, str], Any]]:
    """Each scalar with its dotted path and the nearest mapping key above it."""
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            child_path = f"{path}.{child_key}" if path else str(child_key)
            yield from _leaves(child, child_path, str(child_key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, f"{path}[{index}]", key)
    else:
        yield (path or "(document)", key), value


def _problem(key: str, value: Any) -> str:
    if isinstance(value, _Vaulted):
        return "is vault-encrypted"
    if not isinstance(value, str) or not value.strip():
        return ""
    if _PRIVATE_KEY_PEM.search(value):
        return "holds a private key"
    templated = not isinstance(value, _Unsafe) and ("{{" in value or "{%" in value)
    if SECRET_KEY.search(key) and not REFERENCE_KEY.search(key) and not templated:
        return "holds a literal value under a name that says secret"
    return ""


# -- the collections a release carries -------------------------------------------------------


def collection_sources(
    listing: Mapping[str, Mapping[str, Any]], dependencies: Mapping[str, Any] | list[str]
) -> dict[str, str]:
    """Where each collection this one depends on is installed on the controller, so that the
    release carries exactly the versions the controller runs: {fqcn: directory}.

    `listing` is `ansible-galaxy collection list --format json` ({collections path: {fqcn:
    {version}}}), in Ansible's search order: the first path holding a collection wins, as it
    does for ansible-playbook. ValueError names every dependency that is not installed.
    """
    found: dict[str, str] = {}
    for path, collections in listing.items():
        for fqcn in collections:
            found.setdefault(fqcn, f"{path.rstrip('/')}/{fqcn.replace('.', '/')}")
    wanted = sorted(dependencies)
    missing = [fqcn for fqcn in wanted if fqcn not in found]
    if missing:
        raise ValueError(
            f"the controller has no installed {', '.join(missing)}: a release carries the "
            "collections its playbooks need (pip install -r requirements.txt)"
        )
    return {fqcn: found[fqcn] for fqcn in wanted}
