"""The app's own metrics beyond HTTP (design section 9): redis_operations_total moves on the API's
real Redis calls, and the database and Redis metrics survive gunicorn's multiprocess mode (each
worker a process writing its own files, /metrics adding them up)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")
pytest.importorskip("celery")

from ideation_app import metrics, tasks
from ideation_app.config import Settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

APP_DIR = Path(__file__).resolve().parents[3] / "examples" / "app"


def counted(operation: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(
        "redis_operations_total", {"operation": operation, "outcome": outcome}) or 0.0


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def celery_app(broker: str):
    app = tasks.make_celery(Settings.from_env({}))
    app.conf.broker_url = broker
    return app


def test_handing_an_idea_to_the_workers_counts_one_enqueue(monkeypatch):
    app = celery_app("memory://")
    monkeypatch.setattr(tasks, "app", app)
    before = counted("enqueue", "ok")
    idea_id = uuid.uuid4()
    tasks.enqueue(idea_id)
    assert counted("enqueue", "ok") == before + 1
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue("ideation", no_ack=True).get(timeout=1)
    assert message.headers["task"] == tasks.PROCESS_TASK
    assert message.headers["argsrepr"] == repr([str(idea_id)])


def test_an_enqueue_that_cannot_reach_redis_counts_as_an_error(monkeypatch, closed_port):
    monkeypatch.setattr(tasks, "app", celery_app(f"redis://127.0.0.1:{closed_port}/0"))
    before = (counted("enqueue", "ok"), counted("enqueue", "error"))
    from kombu.exceptions import OperationalError

    with pytest.raises(OperationalError):
        tasks.enqueue(uuid.uuid4())
    assert (counted("enqueue", "ok"), counted("enqueue", "error")) == (before[0], before[1] + 1)


def test_the_readiness_ping_counts_even_when_redis_is_away(monkeypatch, closed_port):
    redis = pytest.importorskip("redis")
    from ideation_app import wsgi

    monkeypatch.setattr(wsgi, "settings",
                        Settings.from_env({"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}))
    before = counted("ping", "error")
    with pytest.raises(redis.exceptions.ConnectionError):
        wsgi._redis_ping()
    assert counted("ping", "error") == before + 1


def test_an_unknown_redis_operation_is_refused():
    with pytest.raises(ValueError, match="unknown operation 'GET idea:1'"), \
            metrics.redis_operation("GET idea:1"):
        pass


# One gunicorn worker, played by a subprocess: prometheus_client's mode is chosen at import, so
# multiprocess mode needs a process of its own. The database is a stand-in connection.
WORKER = textwrap.dedent("""
    import sys
    from ideation_app import metrics
    from ideation_app.config import Settings
    from ideation_app.db import Database

    class Cursor:
        def __enter__(self): return self
        def __exit__(self, *exc): return False
        def execute(self, sql, params=()): pass
        def fetchone(self): return (1,)

    class Connection:
        closed = 0
        def cursor(self): return Cursor()
        def commit(self): pass

    database = Database(Settings.from_env({}), connect=lambda **dsn: Connection())
    for _ in range(int(sys.argv[1])):
        database.ping()
        with metrics.redis_operation("ping"):
            pass
    from prometheus_client import values
    print(values.ValueClass.__name__)
""")


def run_worker(tmp_path, pings: int, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(pings)], cwd=tmp_path, capture_output=True,
        text=True, check=False, env={**env, "PYTHONPATH": str(APP_DIR)})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_workers_metrics_add_up_in_multiprocess_mode(tmp_path, monkeypatch):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    assert run_worker(tmp_path, 2, env) == "MmapedValue"
    run_worker(tmp_path, 3, env)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    assert registry.get_sample_value("db_query_duration_seconds_count",
                                     {"operation": "ping"}) == 5
    assert registry.get_sample_value("redis_operations_total",
                                     {"operation": "ping", "outcome": "ok"}) == 5
    # What /metrics serves in a gunicorn worker: every worker's samples.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    page = metrics.exposition()[0].decode()
    assert 'db_query_duration_seconds_bucket{le="+Inf",operation="ping"} 5.0' in page
    assert 'redis_operations_total{operation="ping",outcome="ok"} 5.0' in page


def test_only_gunicorn_runs_in_multiprocess_mode(tmp_path):
    """The image leaves PROMETHEUS_MULTIPROC_DIR unset; gunicorn.conf.py sets it for gunicorn.
    Anything else (the command line, Celery workers, Flower) keeps its metrics in memory, so it
    needs no directory: a migration in a one-off container must not fail on a metrics file."""
    assert "PROMETHEUS_MULTIPROC_DIR=" not in (APP_DIR / "Dockerfile").read_text()
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}
    assert run_worker(tmp_path, 1, env) == "MutexValue"
    gunicorn = subprocess.run(
        [sys.executable, "-c", "import runpy, os; runpy.run_path('gunicorn.conf.py');"
         " from prometheus_client import values;"
         " print(os.environ['PROMETHEUS_MULTIPROC_DIR'], values.ValueClass.__name__)"],
        cwd=APP_DIR, capture_output=True, text=True, check=False,
        env={**env, "PYTHONPATH": str(APP_DIR)})
    assert gunicorn.returncode == 0, gunicorn.stderr
    assert gunicorn.stdout.split() == ["/tmp/prometheus-multiproc", "MmapedValue"]
