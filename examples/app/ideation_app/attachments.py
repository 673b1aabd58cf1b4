"""Attachments of an idea: the browser uploads the file straight to the document bucket with a
presigned PUT URL, so the API never carries the bytes and holds no long-lived key. The URL is
signed with whatever boto3's default credential chain finds: on EC2 the API tier's instance role
(temporary credentials from IMDS), in tests the environment."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from .config import Settings

PREFIX = "attachments"
FILENAME_MAX = 100
# Documents people attach to an idea; anything else is refused before a URL exists.
CONTENT_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "text/plain",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
    }
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class InvalidAttachmentError(ValueError):
    """The upload request breaks a rule; the message says which, for the client."""


@dataclass(frozen=True)
class AttachmentRequest:
    """A checked request for an upload URL."""

    filename: str
    content_type: str
    size: int

    @classmethod
    def from_json(cls, payload: Any, max_bytes: int) -> AttachmentRequest:
        if not isinstance(payload, dict):
            raise InvalidAttachmentError("the body must be a JSON object")
        unknown = sorted(set(payload) - {"filename", "content_type", "size"})
        if unknown:
            raise InvalidAttachmentError(f"unknown fields: {', '.join(unknown)}")
        filename = safe_filename(payload.get("filename"))
        content_type = payload.get("content_type")
        if content_type not in CONTENT_TYPES:
            raise InvalidAttachmentError(
                f"content_type must be one of: {', '.join(sorted(CONTENT_TYPES))}"
            )
        size = payload.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidAttachmentError("size must be a positive integer (bytes)")
        if size > max_bytes:
            raise InvalidAttachmentError(f"size must be at most {max_bytes} bytes")
        return cls(filename=filename, content_type=content_type, size=size)


def safe_filename(name: Any) -> str:
    """The file's name reduced to one harmless key segment: no slash, no leading dot, short."""
    if not isinstance(name, str):
        raise InvalidAttachmentError("filename is required and must be a string")
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[-FILENAME_MAX:]
    if not cleaned.strip("_"):
        raise InvalidAttachmentError("filename must contain letters or digits")
    return cleaned


def idea_prefix(idea_id: uuid.UUID) -> str:
    """Where an idea's attachments live in the bucket (the API's instance role writes there)."""
    return f"{PREFIX}/{idea_id}/"


def object_key(idea_id: uuid.UUID, filename: str) -> str:
    """A new key under the idea's prefix; the random part keeps two uploads of one name apart."""
    return f"{idea_prefix(idea_id)}{uuid.uuid4()}/{filename}"


def s3_client(settings: Settings) -> Any:
    """An S3 client on boto3's default credential chain (SigV4, as presigned URLs need)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=settings.aws_region or None,
        endpoint_url=settings.s3_endpoint_url or None,
        config=Config(signature_version="s3v4"),
    )


def presign_upload(
    client: Any, settings: Settings, idea_id: uuid.UUID, wanted: AttachmentRequest
) -> dict[str, Any]:
    """A presigned PUT for one new object of the idea. Content-Type and Content-Length are
    signed: S3 refuses an upload whose type or size differs from what was asked for."""
    key = object_key(idea_id, wanted.filename)
    url = client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": settings.s3_bucket,
            "Key": key,
            "ContentType": wanted.content_type,
            "ContentLength": wanted.size,
        },
        ExpiresIn=settings.attachment_url_expiry,
        HttpMethod="PUT",
    )
    return {
        "key": key,
        "method": "PUT",
        "url": url,
        "headers": {"Content-Type": wanted.content_type, "Content-Length": str(wanted.size)},
        "expires_in": settings.attachment_url_expiry,
    }
