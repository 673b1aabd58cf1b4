"""The reference app's attachment endpoint against a moto server: the presigned PUT URL it
returns, signed by boto3's default credential chain (on EC2 the API tier's instance role; here
the environment's test credentials), really uploads the file into the document bucket, under the
idea's own prefix. No long-lived key pair is involved. moto checks neither the signature nor the
expiry of a presigned URL: that the URL signs Content-Type, Content-Length and a short expiry is
asserted on the URL itself (tests/unit/app/test_web.py)."""

from __future__ import annotations

import datetime
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

jwt = pytest.importorskip("jwt")
pytest.importorskip("flask")
pytest.importorskip("prometheus_client")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "app"))

from ideation_app.config import Settings
from ideation_app.ideas import Idea, NewIdea
from ideation_app.web import create_app

BUCKET = "ideation-documents-dev"
SECRET = "k" * 64
PDF = b"%PDF-1.4\n" + b"0" * 2039


class Store:
    """Ideas in a dict: only the existence of the idea matters here."""

    def __init__(self) -> None:
        self.ideas: dict[uuid.UUID, Idea] = {}

    def create(self, new: NewIdea) -> Idea:
        idea = Idea(uuid.uuid4(), new.title, new.description, new.submitter, "submitted",
                    datetime.datetime.now(datetime.UTC))
        self.ideas[idea.id] = idea
        return idea

    def get(self, idea_id: uuid.UUID) -> Idea | None:
        return self.ideas.get(idea_id)


@pytest.fixture(scope="module")
def bucket(moto_server: Any) -> str:
    moto_server.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def app(moto_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in moto_server.env({}).items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env({
        "JWT_SECRET": SECRET, "S3_BUCKET": bucket, "S3_ENDPOINT_URL": moto_server.url,
        "AWS_DEFAULT_REGION": moto_server.region
    })
    yield create_app(settings, Store(), {}, lambda _id: None).test_client()


def upload_url(client: Any, idea: str, size: int = len(PDF), name: str = "plan.pdf") -> Any:
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    response = client.post(
        f"/api/ideas/{idea}/attachments",
        json={"filename": name, "content_type": "application/pdf", "size": size},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def put(upload: dict[str, Any], data: bytes) -> int:
    request = urllib.request.Request(upload["url"], data=data, method="PUT",
                                     headers=upload["headers"])
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_presigned_url_uploads_the_file_under_the_ideas_prefix(app, moto_server, bucket):
    idea = app.post("/api/ideas", json={"title": "Trees"}).get_json()["id"]
    other = app.post("/api/ideas", json={"title": "Parks"}).get_json()["id"]
    upload = upload_url(app, idea, name="../" + other + "/plan.pdf")
    assert upload["url"].startswith(f"{moto_server.url}/{bucket}/attachments/{idea}/")
    assert put(upload, PDF) == 200
    s3 = moto_server.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="attachments/")["Contents"]
    assert [o["Key"] for o in listed] == [upload["key"]]
    assert upload["key"].startswith(f"attachments/{idea}/")
    assert other not in upload["key"]
    stored = s3.get_object(Bucket=bucket, Key=upload["key"])
    assert stored["Body"].read() == PDF
    assert stored["ContentType"] == "application/pdf"

