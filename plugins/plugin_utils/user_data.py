"""Launch template user data: compressed, encoded, and within EC2's limit (docs/boot.md)."""

from __future__ import annotations

import base64
import gzip

# EC2 refuses user data over 16 KB, measured before base64 (the payload as the instance gets it).
USER_DATA_LIMIT = 16384


def encode_user_data(text: str) -> str:
    """gzip (cloud-init recognises it) then base64, as launch templates take user data.

    Deterministic (no timestamp in the gzip header), so an unchanged template is not a new
    launch template version. ValueError when the compressed payload exceeds EC2's limit.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("user data must be a non-empty text")
    payload = gzip.compress(text.encode(), compresslevel=9, mtime=0)
    if len(payload) > USER_DATA_LIMIT:
        raise ValueError(
            f"user data is {len(payload)} bytes compressed, over EC2's limit of "
            f"{USER_DATA_LIMIT}: move content into the release"
        )
    return base64.b64encode(payload).decode()


def decode_user_data(value: str) -> str:
    """The text of user data encode_user_data made (for tests and operators reading a template)."""
    return gzip.decompress(base64.b64decode(value, validate=True)).decode()
