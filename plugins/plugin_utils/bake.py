"""Baked images per role (playbooks/bake.yml, docs/images.md): the content hash that says
whether a role needs a new bake, the image a launch template should use, and which old bakes
to prune.

A bake is an AMI tagged ``Purpose: bake`` with the role it was baked for (``Role``), the base
image it was built from (``BaseImage``), the content hash of the role's files
(``ContentHash``), the release of the collection and the time (``BakedAt``). The rules read the
images as amazon.aws.ec2_ami_info lists them (``image_id``, ``state``, ``creation_date``,
``tags`` as a dict). No Ansible import: the filter wrappers turn ``ValueError`` into
``AnsibleFilterError``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PURPOSE_TAG = "Purpose"
PURPOSE = "bake"
ROLE_TAG = "Role"
BASE_TAG = "BaseImage"
HASH_TAG = "ContentHash"
BAKED_AT_TAG = "BakedAt"
# Parts of a role that never reach a machine: a change there is no reason to bake again.
_IGNORED_DIRS = frozenset({"molecule", "tests", "__pycache__", ".pytest_cache"})
_IGNORED_FILES = frozenset({"README.md"})


def content_hash(files: Iterable[tuple[str, bytes]], extra: str = "") -> str:
    """sha256 (hex) over each file's relative path and the sha256 of its content, in path
    order, and ``extra`` (what else decides the image: the list of entry points, say). The
    same files in any order give the same hash; a renamed, changed, added or removed file
    gives another."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    for path, data in sorted(files):
        if path in seen:
            raise ValueError(f"the file {path!r} is listed twice")
        seen.add(path)
        digest.update(f"{path}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    digest.update(f"\0extra\0{extra}".encode())
    return digest.hexdigest()


def role_files(roles_dir: str | Path, roles: Sequence[str]) -> list[tuple[str, bytes]]:
    """The files of ``roles`` under ``roles_dir`` that reach a machine, as (``<role>/<path>``,
    content) pairs: everything but Molecule scenarios, tests, caches and the README."""
    if isinstance(roles, (str, bytes)) or not roles:
        raise ValueError(f"roles must be a non-empty list of role names, got {roles!r}")
    root = Path(roles_dir)
    found: list[tuple[str, bytes]] = []
    for role in roles:
        base = root / str(role)
        if not (base / "tasks").is_dir():
            raise ValueError(f"no role {role!r} under {root} (no tasks/ directory)")
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if (path.is_dir() or path.name in _IGNORED_FILES or path.suffix == ".pyc"
                    or _IGNORED_DIRS.intersection(relative.parts)):
                continue
            found.append((f"{role}/{relative.as_posix()}", path.read_bytes()))
    return found


def _tags(image: Mapping[str, Any]) -> dict[str, str]:
    tags = image.get("tags") or {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t.get("key", t.get("Key"))): str(t.get("value", t.get("Value"))) for t in tags}


def _created(image: Mapping[str, Any]) -> dt.datetime:
    value = image.get("creation_date") or image.get("CreationDate")
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"image {image.get('image_id')!r} has no ISO 8601 creation_date: {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _bakes(images: Iterable[Mapping[str, Any]], role: str) -> list[Mapping[str, Any]]:
    """The bakes of ``role``, newest first (creation time, then ID for a stable order)."""
    if not role:
        raise ValueError("a role is required")
    found = [
        image for image in images
        if _tags(image).get(PURPOSE_TAG) == PURPOSE and _tags(image).get(ROLE_TAG) == role
    ]
    return sorted(found, key=lambda i: (_created(i), str(i.get("image_id"))), reverse=True)


def bake_image(images: Iterable[Mapping[str, Any]], role: str, base_image: str,
               content: str | None = None) -> str:
    """The ID of the newest available bake of ``role`` built from ``base_image`` (and, when
    ``content`` is given, from files with that content hash: a bake to reuse instead of baking
    again), or "" when there is none. A bake of another base image is never chosen: a new base
    (security updates, a new Debian point release) is used as is until its role is baked."""
    if not base_image:
        raise ValueError("the base image ID is required")
    for image in _bakes(images, role):
        tags = _tags(image)
        if (image.get("state") == "available" and tags.get(BASE_TAG) == base_image
                and (content is None or tags.get(HASH_TAG) == content)):
            return str(image["image_id"])
    return ""


def images_to_prune(images: Iterable[Mapping[str, Any]], role: str, keep: Any,
                    in_use: Sequence[str] = ()) -> list[str]:
    """IDs of the bakes of ``role`` beyond the ``keep`` newest, oldest first; never one in
    ``in_use`` (named by a launch template or run by an instance: deregistering it would break
    the next launch). Images that are not bakes of the role are never listed."""
    if isinstance(keep, bool) or not isinstance(keep, (int, str)):
        raise ValueError(f"keep must be a whole number of images, got {keep!r}")
    try:
        count = int(keep)
    except ValueError:
        raise ValueError(f"keep must be a whole number of images, got {keep!r}") from None
    if count < 1:
        raise ValueError(f"keep must be at least 1 (the newest bake is in use), got {count}")
    old = _bakes(images, role)[count:]
    return [str(i["image_id"]) for i in reversed(old) if str(i["image_id"]) not in set(in_use)]
