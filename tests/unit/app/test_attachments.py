"""Upload requests for an idea's attachments: what is checked before any URL is signed, and
where the key lands (the URL really uploading is tests/integration/test_app_attachments.py)."""

import uuid

import pytest
from ideation_app.attachments import (
    AttachmentRequest,
    InvalidAttachmentError,
    idea_prefix,
    object_key,
    safe_filename,
)

IDEA = uuid.UUID("12345678-1234-5678-1234-567812345678")
GOOD = {"filename": "plan.pdf", "content_type": "application/pdf", "size": 2048}


def test_a_good_request_is_accepted():
    assert AttachmentRequest.from_json(GOOD, 10_000) == AttachmentRequest(
        "plan.pdf", "application/pdf", 2048)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 10_001}, "at most 10000 bytes"),
        ({"size": 0}, "positive integer"),
        ({"size": "12"}, "positive integer"),
        ({"size": True}, "positive integer"),
        ({"content_type": "text/html"}, "content_type must be one of"),
        ({"content_type": "application/x-msdownload"}, "content_type must be one of"),
        ({"filename": 7}, "filename is required"),
        ({"filename": "../.."}, "letters or digits"),
        ({"owner": "bob"}, "unknown fields: owner"),
    ],
)
def test_bad_requests_are_refused_with_the_rule_they_break(change, message):
    with pytest.raises(InvalidAttachmentError, match=message):
        AttachmentRequest.from_json({**GOOD, **change}, 10_000)


def test_the_body_must_be_an_object():
    with pytest.raises(InvalidAttachmentError, match="JSON object"):
        AttachmentRequest.from_json(["plan.pdf"], 10_000)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("plan.pdf", "plan.pdf"),
        ("../../other-idea/x.pdf", "x.pdf"),
        ("C:\\Users\\me\\My Plan (v2).pdf", "My_Plan_v2_.pdf"),
        (".hidden", "hidden"),
        ("é?.txt", "_.txt"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),
    ],
)
def test_filenames_become_one_harmless_key_segment(name, safe):
    assert safe_filename(name) == safe


def test_keys_stay_under_the_ideas_prefix_and_never_repeat():
    first, second = object_key(IDEA, "plan.pdf"), object_key(IDEA, "plan.pdf")
    assert idea_prefix(IDEA) == f"attachments/{IDEA}/"
    for key in (first, second):
        assert key.startswith(idea_prefix(IDEA))
        assert key.endswith("/plan.pdf")
        assert key.count("/") == 3
    assert first != second
