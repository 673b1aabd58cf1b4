"""The HTTP API (Flask). Its collaborators are passed in, so tests give it fakes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request

from . import attachments, auth, metrics
from .config import Settings
from .ideas import IdeaStore, InvalidIdeaError, NewIdea, parse_id, parse_listing

log = logging.getLogger(__name__)

Check = Callable[[], None]  # raises when the dependency does not answer


def create_app(
    settings: Settings,
    store: IdeaStore,
    checks: Mapping[str, Check],
    enqueue: Callable[[uuid.UUID], None],
) -> Flask:
    """The WSGI application.

    checks: what /ready tries, by name (database, redis); enqueue: hands an idea to the worker.
    """
    app = Flask("ideation_app")
    app.json.sort_keys = False
    clients: list[Any] = []
    for name, value in (("JWT_SECRET", settings.jwt_secret), ("API_KEY", settings.api_key)):
        if not value:
            log.warning("%s is not set: every request that needs it is refused", name)

    def s3() -> Any:
        if not clients:
            clients.append(attachments.s3_client(settings))
        return clients[0]

    def authenticated() -> dict[str, Any]:
        """The caller's token claims; raises auth.UnauthorizedError. No secret: nobody gets in."""
        if not settings.jwt_secret:
            raise auth.UnauthorizedError("authentication is not configured")
        return auth.verify(auth.bearer_token(request.headers), settings.jwt_secret)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        # The route's pattern, never the raw path: ids must not become label values.
        path = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        metrics.DURATION.labels(request.method, path).observe(elapsed)
        return response

    @app.get("/health")
    def health():
        return jsonify(status="ok", version=settings.version)

    @app.get("/ready")
    def ready():
        results = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as error:  # any failure means not ready
                log.warning("readiness check %s failed: %s", name, error)
                results[name] = "unavailable"
        if settings.broken == "never-ready":
            results["build"] = "deliberately broken (IDEATION_BROKEN=never-ready)"
        ok = all(v == "ok" for v in results.values())
        return jsonify(status="ready" if ok else "not ready", checks=results), 200 if ok else 503

    @app.post("/api/ideas")
    def submit():
        payload = request.get_json(silent=True)
        try:
            new = NewIdea.from_json(payload)
        except InvalidIdeaError as error:
            return jsonify(error=str(error)), 400
        idea = store.create(new)
        try:
            enqueue(idea.id)
        except Exception as error:  # the beat sweep re-queues it later
            log.warning("could not queue idea %s for processing: %s", idea.id, error)
        return jsonify(idea.to_json()), 201, {"Location": f"/api/ideas/{idea.id}"}

    @app.get("/api/ideas")
    def listing():
        """The newest ideas, or those matching `q`: a read-only query (the read replica)."""
        try:
            text, limit = parse_listing(request.args)
        except InvalidIdeaError as error:
            return jsonify(error=str(error)), 400
        return jsonify(ideas=[idea.to_json() for idea in store.search(text, limit)])

    @app.get("/api/ideas/<idea_id>")
    def show(idea_id: str):
        parsed = parse_id(idea_id)
        idea = store.get(parsed) if parsed else None
        if idea is None:
            return jsonify(error="no such idea"), 404
        return jsonify(idea.to_json())

    @app.post("/api/ideas/<idea_id>/attachments")
    def attachment_upload_url(idea_id: str):
        try:
            claims = authenticated()
        except auth.UnauthorizedError as error:
            return jsonify(error=str(error)), 401, {"WWW-Authenticate": 'Bearer realm="ideation"'}
        parsed = parse_id(idea_id)
        idea = store.get(parsed) if parsed else None
        if idea is None:
            return jsonify(error="no such idea"), 404
        try:
            wanted = attachments.AttachmentRequest.from_json(
                request.get_json(silent=True), settings.attachment_max_bytes)
        except attachments.InvalidAttachmentError as error:
            return jsonify(error=str(error)), 400
        if not settings.s3_bucket:
            return jsonify(error="attachments are not configured (no S3_BUCKET)"), 503
        upload = attachments.presign_upload(s3(), settings, idea.id, wanted)
        log.info("upload URL for %s issued to %s", upload["key"], claims["sub"])
        return jsonify(upload), 201

    @app.get("/metrics")
    def metrics_page():
        # Machines only: nginx passes every path of the API's name, /metrics included.
        if not auth.machine_allowed(request.headers, settings.api_key):
            return (jsonify(error="an API key is required"), 401,
                    {"WWW-Authenticate": 'Basic realm="ideation-machines"'})
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify(error="not found"), 404

    @app.errorhandler(405)
    def not_allowed(_error):
        return jsonify(error="method not allowed"), 405

    @app.errorhandler(500)
    def failed(_error):
        return jsonify(error="internal error"), 500

    return app
