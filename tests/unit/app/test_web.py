"""The HTTP API with fake collaborators: status codes, bodies, readiness and metrics."""

import base64
import re
import time
import urllib.parse
import uuid

import pytest

pytest.importorskip("prometheus_client")

from ideation_app.config import Settings
from ideation_app.metrics import REGISTRY
from ideation_app.web import create_app

API_KEY = "m" * 40


def ok() -> None:
    pass


def down() -> None:
    raise ConnectionError("connection refused")


@pytest.fixture
def queued():
    return []


@pytest.fixture
def make_client(store, queued):
    def _make(checks=None, broken="", enqueue=None, api_key=API_KEY):
        settings = Settings.from_env({"IDEATION_APP_VERSION": "9.9.9", "IDEATION_BROKEN": broken,
                                      "API_KEY": api_key})
        app = create_app(settings, store, checks if checks is not None
                         else {"database": ok, "redis": ok}, enqueue or queued.append)
        return app.test_client()
    return _make


def test_health_answers_with_the_version(make_client):
    response = make_client(checks={"database": down}).get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": "9.9.9"}


def test_ready_when_every_dependency_answers(make_client):
    response = make_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_not_ready_names_the_dependency_that_does_not_answer(make_client):
    response = make_client(checks={"database": ok, "redis": down}).get("/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "redis": "unavailable"}


def test_a_never_ready_build_is_never_ready(make_client):
    response = make_client(broken="never-ready").get("/ready")
    assert response.status_code == 503
    assert make_client(broken="never-ready").get("/health").status_code == 200


def test_submitting_stores_queues_and_locates_the_idea(make_client, store, queued):
    client = make_client()
    response = client.post("/api/ideas", json={"title": "Night buses", "description": "More"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "submitted"
    assert response.headers["Location"] == f"/api/ideas/{body['id']}"
    assert queued == [uuid.UUID(body["id"])]
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json()["title"] == "Night buses"


def test_an_idea_is_kept_when_the_queue_is_down(make_client, store):
    def refuse(_):
        raise ConnectionError("redis is away")

    response = make_client(enqueue=refuse).post("/api/ideas", json={"title": "Parks"})
    assert response.status_code == 201
    assert store.get(uuid.UUID(response.get_json()["id"])).status == "submitted"


@pytest.mark.parametrize("body", [{"title": ""}, {"nope": 1}, "not json"])
def test_bad_submissions_get_400_and_store_nothing(make_client, store, body):
    client = make_client()
    if isinstance(body, str):
        response = client.post("/api/ideas", data=body, content_type="application/json")
    else:
        response = client.post("/api/ideas", json=body)
    assert response.status_code == 400
    assert "error" in response.get_json()
    assert store.ideas == {}


UNKNOWN_IDEA = "2f1c6d0e-8a3b-4c5d-9e7f-0a1b2c3d4e5f"  # fixed: xdist workers must collect alike


@pytest.mark.parametrize(
    "path", [f"/api/ideas/{UNKNOWN_IDEA}", "/api/ideas/not-a-uuid", "/nowhere"]
)
def test_unknown_things_are_404_in_json(make_client, path):
    response = make_client().get(path)
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_metrics_count_requests_by_route_pattern_not_by_id(make_client):
    client = make_client()
    labels = {"method": "GET", "path": "/api/ideas/<idea_id>", "status": "404"}
    before = REGISTRY.get_sample_value("http_requests_total", labels) or 0
    client.get(f"/api/ideas/{uuid.uuid4()}")
    client.get(f"/api/ideas/{uuid.uuid4()}")
    assert REGISTRY.get_sample_value("http_requests_total", labels) == before + 2
    page = client.get("/metrics", headers={"X-API-Key": API_KEY})
    assert page.status_code == 200
    assert page.content_type.startswith("text/plain")
    text = page.get_data(as_text=True)
    bucket = ('http_request_duration_seconds_bucket'
              '{le="0.005",method="GET",path="/api/ideas/<idea_id>"}')
    assert bucket in text
    assert not re.search(r'path="/api/ideas/[0-9a-f-]{36}"', text)


# -- attachments: a presigned upload URL, for a bearer of a valid token ------------------------

JWT_SECRET = "j" * 64


@pytest.fixture
def attach(store, queued, monkeypatch):
    """A client of an app with a JWT secret and a bucket, the id of a stored idea, and a way to
    make tokens; presigning runs on boto3's default chain (moto's in-process S3 here)."""
    jwt = pytest.importorskip("jwt")
    moto = pytest.importorskip("moto")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def make(env=None):
        settings = Settings.from_env({"JWT_SECRET": JWT_SECRET, "S3_BUCKET": "docs",
                                      "AWS_DEFAULT_REGION": "us-east-1", **(env or {})})
        return create_app(settings, store, {}, queued.append).test_client()

    def token(secret=JWT_SECRET, **claims):
        return jwt.encode({"sub": "alice", "exp": time.time() + 60, **claims}, secret,
                          algorithm="HS256")

    idea = make().post("/api/ideas", json={"title": "Trees"}).get_json()["id"]
    with moto.mock_aws():
        yield make, token, idea


BODY = {"filename": "plan.pdf", "content_type": "application/pdf", "size": 2048}


def test_an_authenticated_caller_gets_a_put_url_under_the_ideas_prefix(attach):
    make, token, idea = attach
    response = make().post(f"/api/ideas/{idea}/attachments", json=BODY,
                           headers={"Authorization": f"Bearer {token()}"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["method"] == "PUT"
    assert body["key"].startswith(f"attachments/{idea}/") and body["key"].endswith("/plan.pdf")
    assert body["headers"] == {"Content-Type": "application/pdf", "Content-Length": "2048"}
    assert body["expires_in"] == 300
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(body["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [({}, "bearer token is required"), ({"Authorization": "Bearer nope"}, "not valid")],
)
def test_no_or_a_bad_token_is_401(attach, headers, message):
    make, _token, idea = attach
    response = make().post(f"/api/ideas/{idea}/attachments", json=BODY, headers=headers)
    assert response.status_code == 401
    assert message in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_signed_with_another_secret_is_401(attach):
    make, token, idea = attach
    response = make().post(f"/api/ideas/{idea}/attachments", json=BODY,
                           headers={"Authorization": f"Bearer {token(secret='x' * 64)}"})
    assert response.status_code == 401


def test_without_a_jwt_secret_nobody_is_let_in(attach):
    make, token, idea = attach
    response = make({"JWT_SECRET": ""}).post(f"/api/ideas/{idea}/attachments", json=BODY,
                                             headers={"Authorization": f"Bearer {token()}"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "authentication is not configured"


def test_unknown_ideas_bad_bodies_and_a_missing_bucket(attach):
    make, token, idea = attach
    auth = {"Authorization": f"Bearer {token()}"}
    client = make()
    assert client.post(f"/api/ideas/{UNKNOWN_IDEA}/attachments", json=BODY,
                       headers=auth).status_code == 404
    assert client.post("/api/ideas/not-a-uuid/attachments", json=BODY,
                       headers=auth).status_code == 404
    too_big = client.post(f"/api/ideas/{idea}/attachments", json={**BODY, "size": 10**9},
                          headers=auth)
    assert too_big.status_code == 400
    assert "at most 10485760 bytes" in too_big.get_json()["error"]
    no_bucket = make({"S3_BUCKET": ""}).post(f"/api/ideas/{idea}/attachments", json=BODY,
                                             headers=auth)
    assert no_bucket.status_code == 503


# -- /metrics: machines with the API key only (nginx passes every path of the API's name) -----


def basic(password: str, user: str = "prometheus") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("headers", [basic(API_KEY), basic(API_KEY, user=""),
                                     {"X-API-Key": API_KEY}], ids=["basic", "no-user", "header"])
def test_metrics_answer_a_machine_with_the_api_key(make_client, headers):
    response = make_client().get("/metrics", headers=headers)
    assert response.status_code == 200
    assert b"http_requests_total" in response.data


@pytest.mark.parametrize(
    "headers",
    [{}, basic("m" * 39), basic(API_KEY + "m"), {"X-API-Key": "wrong"},
     {"Authorization": f"Bearer {API_KEY}"}, {"Authorization": "Basic !!notbase64"}],
    ids=["none", "short", "long", "wrong-header", "bearer", "garbage"],
)
def test_metrics_refuse_anything_else(make_client, headers):
    response = make_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert b"http_requests_total" not in response.data


def test_without_an_api_key_metrics_are_closed_to_everyone(make_client):
    client = make_client(api_key="")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=basic("")).status_code == 401
    assert client.get("/health").status_code == 200


def test_listing_answers_the_newest_ideas_and_searches(make_client, store):
    client = make_client()
    for title in ("Tool library", "Community garden", "Garden tools"):
        assert client.post("/api/ideas", json={"title": title}).status_code == 201
    listed = client.get("/api/ideas?limit=2")
    assert listed.status_code == 200
    assert [i["title"] for i in listed.get_json()["ideas"]] == ["Garden tools",
                                                                "Community garden"]
    found = client.get("/api/ideas?q=GARDEN")
    assert {i["title"] for i in found.get_json()["ideas"]} == {"Garden tools", "Community garden"}


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "q=" + "x" * 201])
def test_a_bad_listing_request_is_400(make_client, query):
    response = make_client().get(f"/api/ideas?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]
