"""Processed ideas are archived to S3 (against moto's in-process S3)."""

import datetime as dt
import json
import uuid

import boto3
import pytest
from ideation_app.config import Settings
from ideation_app.ideas import Idea
from ideation_app.storage import archive

moto = pytest.importorskip("moto")

IDEA = Idea(id=uuid.UUID("12345678-1234-5678-1234-567812345678"), title="Trees", description="",
            submitter="", status="processed", created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            word_count=1, keywords=["trees"])


def test_no_bucket_means_no_archive():
    assert archive(IDEA, Settings.from_env({})) is None


def test_the_idea_is_written_as_json_under_ideas(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="docs",
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        settings = Settings.from_env({"S3_BUCKET": "docs", "AWS_DEFAULT_REGION": "eu-west-1"})
        key = archive(IDEA, settings)
        assert key == f"ideas/{IDEA.id}.json"
        stored = json.loads(s3.get_object(Bucket="docs", Key=key)["Body"].read())
    assert stored["title"] == "Trees"
    assert stored["status"] == "processed"
    assert stored["keywords"] == ["trees"]
