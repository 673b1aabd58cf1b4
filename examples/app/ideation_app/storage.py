"""Archive of processed ideas in S3 (the design's document bucket)."""

from __future__ import annotations

import json

from .config import Settings
from .ideas import Idea


def archive(idea: Idea, settings: Settings, client=None) -> str | None:
    """Write the idea to s3://S3_BUCKET/ideas/<id>.json and return the key; None when no bucket
    is configured. Credentials come from the environment or the instance profile; the bucket's
    default encryption (KMS) applies."""
    if not settings.s3_bucket:
        return None
    if client is None:
        import boto3

        client = boto3.client(
            "s3",
            region_name=settings.aws_region or None,
            endpoint_url=settings.s3_endpoint_url or None,
        )
    key = f"ideas/{idea.id}.json"
    client.put_object(
        Bucket=settings.s3_bucket,
        Key=key,
        Body=json.dumps(idea.to_json()).encode(),
        ContentType="application/json",
    )
    return key
