"""The WSGI entry point gunicorn loads: ideation_app.wsgi:app."""

from __future__ import annotations

import logging
import os
import sys

from . import metrics
from .config import Settings
from .db import Database, PostgresIdeaStore, read_router
from .web import create_app

WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR

logging.basicConfig(
    level=os.environ.get("LOG_LEVEL", "info").upper(),
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)
settings = Settings.from_env()
if settings.broken == "exit":
    # A deliberately broken build (scripts/build-app-image --broken exit): the worker fails to
    # boot and gunicorn exits, as a release with a fatal start-up error would. Exit status 3 is
    # gunicorn's "worker failed to boot", which stops the master instead of respawning workers.
    logging.getLogger(__name__).critical("deliberately broken build: exiting at start")
    sys.exit(WORKER_BOOT_ERROR)


def _redis_ping() -> None:
    import redis

    with metrics.redis_operation("ping"):
        redis.Redis.from_url(
            settings.broker_url(), socket_connect_timeout=2, socket_timeout=2
        ).ping()


def _enqueue(idea_id) -> None:
    from .tasks import enqueue

    enqueue(idea_id)


database = Database(settings)
app = create_app(
    settings,
    store=PostgresIdeaStore(database, read_router(settings, database)),
    checks={"database": database.ping, "redis": _redis_ping},
    enqueue=_enqueue,
)
