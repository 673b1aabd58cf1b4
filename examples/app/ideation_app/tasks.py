"""The Celery side: the app object (Redis broker), the processing task and the beat sweep.

Worker:  celery -A ideation_app.tasks worker -Q ideation --concurrency 4
Beat:    celery -A ideation_app.tasks beat
"""

from __future__ import annotations

import logging
import uuid

from celery import Celery

from . import ideas, metrics
from .config import Settings
from .db import Database, PostgresIdeaStore
from .storage import archive

log = logging.getLogger(__name__)

PROCESS_TASK = "ideation.process_idea"
SWEEP_TASK = "ideation.sweep_submitted"
SWEEP_BATCH = 100


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured from the settings."""
    app = Celery("ideation", broker=settings.broker_url(), set_as_current=True)
    app.conf.update(
        task_default_queue=settings.task_queue,
        task_ignore_result=True,
        task_acks_late=True,                 # a task lost with its worker is delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=settings.task_time_limit - 30,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.task_time_limit * 2,
            "socket_connect_timeout": 3,
            "socket_timeout": 5,
        },
        # The API must not hang when Redis is away: fail fast, the beat sweep re-queues later.
        task_publish_retry_policy={
            "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        },
        worker_hijack_root_logger=True,
        beat_schedule={
            "sweep-submitted": {"task": SWEEP_TASK, "schedule": float(settings.sweep_interval)},
        },
    )
    return app


settings = Settings.from_env()
app = make_celery(settings)
_store: PostgresIdeaStore | None = None


def store() -> PostgresIdeaStore:
    """The worker process's store (one connection per process, opened on first use)."""
    global _store
    if _store is None:
        _store = PostgresIdeaStore(Database(settings))
    return _store


@app.task(name=PROCESS_TASK, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def process_idea(idea_id: str) -> str:
    """Process one submitted idea; its status goes from submitted to processed."""
    result = ideas.process(store(), uuid.UUID(idea_id))
    if result is None:
        log.warning("idea %s does not exist; nothing to process", idea_id)
        return "missing"
    archive(result, settings)
    log.info("idea %s processed (%s words)", idea_id, result.word_count)
    return result.status


@app.task(name=SWEEP_TASK)
def sweep_submitted() -> int:
    """Re-queue ideas left submitted for longer than CELERY_SWEEP_AFTER seconds (beat)."""
    stale = store().stale_submitted(settings.sweep_after, SWEEP_BATCH)
    for idea_id in stale:
        process_idea.delay(str(idea_id))
    if stale:
        log.info("re-queued %d idea(s) left submitted", len(stale))
    return len(stale)


def enqueue(idea_id: uuid.UUID) -> None:
    """Hand an idea to the workers (the API calls this after storing it): one publish to the
    Redis broker, counted in redis_operations_total{operation="enqueue"}."""
    with metrics.redis_operation("enqueue"):
        app.send_task(PROCESS_TASK, args=[str(idea_id)], queue=settings.task_queue)
