"""The rules of baked images (plugin_utils/bake.py): the content hash, the image a role uses or
reuses, the bakes pruned; through the filters as playbooks/bake.yml and provisioning call them.
The bake itself against moto and the twin: tests/integration/test_bake.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.bake import (
    bake_image,
    content_hash,
    images_to_prune,
    role_files,
)
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[4]
BASE = "ami-base0001"


def image(image_id: str, created: str, role: str = "api", base: str = BASE,
          content: str = "h1", state: str = "available", purpose: str = "bake") -> dict[str, Any]:
    return {"image_id": image_id, "state": state, "creation_date": created,
            "tags": {"Purpose": purpose, "Role": role, "BaseImage": base, "ContentHash": content}}


IMAGES = [
    image("ami-old", "2026-12-01T10:00:00.000Z", content="h0"),
    image("ami-new", "2026-12-05T10:00:00.000Z"),
    image("ami-mid", "2026-12-03T10:00:00.000Z"),
    image("ami-other-base", "2026-12-06T10:00:00.000Z", base="ami-base0002"),
    image("ami-bastion", "2026-12-06T11:00:00.000Z", role="bastion"),
    image("ami-pending", "2026-12-06T12:00:00.000Z", state="pending"),
    image("ami-not-a-bake", "2026-12-06T13:00:00.000Z", purpose="golden"),
]


# --- content hash ---

files = st.dictionaries(st.text(min_size=1, max_size=20), st.binary(max_size=50), max_size=8)


@given(files, st.randoms())
def test_the_hash_does_not_depend_on_the_order_of_files(found: dict[str, bytes], rnd) -> None:
    pairs = list(found.items())
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    assert content_hash(pairs) == content_hash(shuffled)


@given(files, st.text(min_size=1, max_size=20), st.binary(max_size=50))
def test_any_change_to_a_file_changes_the_hash(found: dict[str, bytes], path: str,
                                               data: bytes) -> None:
    before = content_hash(found.items())
    changed = dict(found)
    changed[path] = data
    if changed != found:
        assert content_hash(changed.items()) != before


def test_a_renamed_file_or_another_entry_point_changes_the_hash() -> None:
    assert content_hash([("a/x", b"1")]) != content_hash([("a/y", b"1")])
    assert content_hash([("a/x", b"1")], "install") != content_hash([("a/x", b"1")], "main")


def test_a_file_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'a/x' is listed twice"):
        content_hash([("a/x", b"1"), ("a/x", b"2")])


def test_the_roles_files_count_but_not_their_tests_or_readme(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    shutil.copytree(ROOT / "roles" / "bastion", roles / "bastion",
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = content_hash(role_files(roles, ["bastion"]))
    assert before == content_hash(role_files(ROOT / "roles", ["bastion"]))
    (roles / "bastion" / "README.md").write_text("rewritten")
    (roles / "bastion" / "molecule" / "default" / "extra.yml").write_text("--- {}\n")
    assert content_hash(role_files(roles, ["bastion"])) == before
    with (roles / "bastion" / "defaults" / "main.yml").open("a") as defaults:
        defaults.write("# a change that reaches the machine\n")
    assert content_hash(role_files(roles, ["bastion"])) != before


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="no role 'nope' under"):
        role_files(ROOT / "roles", ["common", "nope"])
    with pytest.raises(ValueError, match="non-empty list"):
        role_files(ROOT / "roles", "common")


# --- the image to use or reuse ---

def test_the_newest_available_bake_of_the_role_on_the_base_is_used() -> None:
    assert bake_image(IMAGES, "api", BASE) == "ami-new"
    assert bake_image(IMAGES, "bastion", BASE) == "ami-bastion"
    # A bake of another base is not used with this base: the base is used until a new bake.
    assert bake_image(IMAGES, "api", "ami-base0002") == "ami-other-base"
    assert bake_image(IMAGES, "api", "ami-base0003") == ""
    assert bake_image(IMAGES, "nginx", BASE) == ""


def test_a_bake_is_reused_only_for_the_same_content() -> None:
    assert bake_image(IMAGES, "api", BASE, "h1") == "ami-new"
    assert bake_image(IMAGES, "api", BASE, "h0") == "ami-old"
    assert bake_image(IMAGES, "api", BASE, "h2") == ""


def test_tags_as_pairs_are_read_too() -> None:
    paired = [{"image_id": "ami-1", "state": "available", "creation_date": "2026-12-01T00:00:00Z",
               "tags": [{"Key": k, "Value": v} for k, v in
                        {"Purpose": "bake", "Role": "api", "BaseImage": BASE}.items()]}]
    assert bake_image(paired, "api", BASE) == "ami-1"


def test_a_missing_base_or_a_bad_date_is_refused() -> None:
    with pytest.raises(ValueError, match="base image ID is required"):
        bake_image(IMAGES, "api", "")
    with pytest.raises(ValueError, match="'ami-x' has no ISO 8601 creation_date"):
        bake_image([image("ami-x", "yesterday")], "api", BASE)


# --- pruning ---

def test_bakes_beyond_the_newest_n_are_pruned_oldest_first() -> None:
    assert images_to_prune(IMAGES, "api", 2) == ["ami-old", "ami-mid", "ami-new"]
    assert images_to_prune(IMAGES, "api", "4") == ["ami-old"]
    assert images_to_prune(IMAGES, "api", 9) == []
    assert images_to_prune(IMAGES, "bastion", 1) == []


def test_an_image_in_use_is_never_pruned() -> None:
    assert images_to_prune(IMAGES, "api", 2, in_use=["ami-mid"]) == ["ami-old", "ami-new"]


@given(st.lists(st.integers(min_value=0, max_value=10**6), unique=True, max_size=12),
       st.integers(min_value=1, max_value=6))
def test_pruning_keeps_exactly_the_newest(days: list[int], keep: int) -> None:
    found = [
        {**image(f"ami-{d:07d}", "2026-01-01T00:00:00+00:00"),
         "creation_date": f"{2000 + d // 100000}-01-01T00:00:{d % 60:02d}+00:00"}
        for d in days
    ]
    pruned = set(images_to_prune(found, "api", keep))
    kept = [i for i in found if i["image_id"] not in pruned]
    assert len(kept) == min(keep, len(found))
    newest = sorted(found, key=lambda i: (i["creation_date"], i["image_id"]), reverse=True)[:keep]
    assert {i["image_id"] for i in kept} == {i["image_id"] for i in newest}


@pytest.mark.parametrize(("keep", "message"), [(0, "at least 1"), (True, "whole number"),
                                               ("two", "whole number"), (1.5, "whole number")])
def test_a_bad_keep_is_refused(keep: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        images_to_prune(IMAGES, "api", keep)


# --- the filters ---

def test_the_filters_as_the_playbooks_call_them(render) -> None:
    assert render("{{ images | ideation.platform.bake_image('api', base) }}",
                  images=IMAGES, base=BASE) == "ami-new"
    assert render("{{ images | ideation.platform.bake_images_to_prune('api', 3, ['ami-old']) }}",
                  images=IMAGES) == ["ami-mid"]
    digest = render("{{ ['common', 'bastion'] | ideation.platform.bake_content_hash(d, 'x') }}",
                    d=str(ROOT / "roles"))
    assert digest == content_hash(role_files(ROOT / "roles", ["common", "bastion"]), "x")


def test_the_filters_name_themselves_in_errors(render) -> None:
    from ansible.errors import AnsibleError

    with pytest.raises(AnsibleError, match=r"ideation\.platform\.bake_images_to_prune: keep must"):
        render("{{ images | ideation.platform.bake_images_to_prune('api', 0) }}", images=IMAGES)
    with pytest.raises(AnsibleError, match=r"ideation\.platform\.bake_content_hash: no role 'x'"):
        render("{{ ['x'] | ideation.platform.bake_content_hash(d) }}", d=str(ROOT / "roles"))
    with pytest.raises(AnsibleError, match=r"ideation\.platform\.bake_image: the base image"):
        render("{{ images | ideation.platform.bake_image('api', '') }}", images=IMAGES)


@pytest.mark.parametrize("name", ["bake_content_hash", "bake_image", "bake_images_to_prune"])
def test_ansible_doc_renders(name: str) -> None:
    import subprocess

    result = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-doc"), "-t", "filter", f"ideation.platform.{name}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "EXAMPLES" in result.stdout and "RETURN VALUES" in result.stdout
