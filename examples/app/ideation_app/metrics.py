"""Prometheus metrics of the HTTP API. Under gunicorn every worker is a process, so
prometheus_client runs in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set in the image) and
/metrics aggregates the files all workers write."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered.", ["method", "path", "status"]
)
DURATION = Histogram(
    "http_request_duration_seconds", "Time spent answering HTTP requests.", ["method", "path"]
)


def multiproc_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> tuple[bytes, str]:
    """The metrics page: all workers' samples in multiprocess mode, else this process's."""
    if multiproc_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def reset_multiproc_dir() -> None:
    """Start from an empty directory (gunicorn's master, before forking workers)."""
    directory = multiproc_dir()
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn's child_exit hook)."""
    if multiproc_dir():
        multiprocess.mark_process_dead(pid)
