"""The Celery app's settings that the celery role relies on (queue, limits, beat schedule)."""

import pytest

pytest.importorskip("celery")

from ideation_app.config import Settings
from ideation_app.tasks import PROCESS_TASK, SWEEP_TASK, make_celery


def test_limits_queue_and_schedule_come_from_the_environment():
    app = make_celery(Settings.from_env({
        "CELERY_TASK_QUEUE": "ideas-high", "CELERY_TASK_TIME_LIMIT": "120",
        "CELERY_SWEEP_INTERVAL": "15", "REDIS_URL": "redis://cache:6379/2",
        "REDIS_PASSWORD": "s3cret",
    }))
    assert app.conf.task_default_queue == "ideas-high"
    assert (app.conf.task_time_limit, app.conf.task_soft_time_limit) == (120, 90)
    assert app.conf.broker_url == "redis://:s3cret@cache:6379/2"
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.beat_schedule["sweep-submitted"] == {"task": SWEEP_TASK, "schedule": 15.0}


def test_the_task_names_are_registered():
    app = make_celery(Settings.from_env({}))
    import ideation_app.tasks as tasks

    assert PROCESS_TASK in tasks.app.tasks
    assert SWEEP_TASK in tasks.app.tasks
    assert app.main == "ideation"
