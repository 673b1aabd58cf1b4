"""Prometheus metrics of the app (design section 9): the HTTP API's requests, its database
operations and its Redis operations. Labels take values from small fixed sets only (route
patterns, operation names), never ids or SQL.

Under gunicorn every worker is a process, so prometheus_client runs in multiprocess mode there:
gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before this module first imports
prometheus_client, and /metrics aggregates the files all workers write. Every other process of
the image (the command line, Celery workers, beat, Flower) keeps its metrics in memory."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
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

# What the Database class does, one name per method (db.py); the only values of `operation`.
DB_OPERATIONS = frozenset({"create", "get", "mark_processed", "stale_submitted", "ping",
                           "migrate", "search", "replica_lag"})
DB_QUERY_DURATION = Histogram(
    "db_query_duration_seconds",
    "Time spent in a database operation (one transaction through PgBouncer, connecting"
    " included), failed ones too.",
    ["operation"],
    # Queries through PgBouncer take milliseconds: finer low buckets than the default.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Read-only queries (db.ReadRouter): where each went, why one fell back to the primary, and the
# replica's lag as last measured (seconds; 0 when it has replayed all it received).
READ_TARGETS = ("replica", "primary")
READ_FALLBACK_REASONS = ("unreachable", "lagging")
DB_READS = Counter("db_reads_total", "Read-only queries, by the server that answered them.",
                   ["target"])
DB_READ_FALLBACKS = Counter(
    "db_read_fallbacks_total",
    "Read-only queries sent to the primary although a replica is configured, by reason.",
    ["reason"],
)
DB_REPLICA_LAG = Gauge(
    "db_replica_lag_seconds",
    "Replication lag of the read replica as last measured (now() - pg_last_xact_replay_timestamp(),"
    " 0 when all received WAL is replayed), by PgBouncer's read-only entry.",
    ["database"],  # a labelled metric has no value (no multiprocess file) until first set
    multiprocess_mode="livemax",
)


def read_served(target: str) -> None:
    """Count one read answered by `target` (replica or primary)."""
    DB_READS.labels(target if target in READ_TARGETS else "primary").inc()


def read_fell_back(reason: str) -> None:
    """Count one read that went to the primary instead of the replica, and why."""
    if reason not in READ_FALLBACK_REASONS:
        raise ValueError(f"unknown fallback reason {reason!r}; one of {READ_FALLBACK_REASONS}")
    DB_READ_FALLBACKS.labels(reason).inc()


# The API's own Redis operations: the /ready ping, and handing an idea to the workers (the
# Celery publish to the broker).
REDIS_OPERATIONS = frozenset({"ping", "enqueue"})
REDIS_OPERATIONS_TOTAL = Counter(
    "redis_operations_total", "Redis operations attempted, by outcome (ok or error).",
    ["operation", "outcome"],
)


def _checked(operation: str, allowed: frozenset[str]) -> str:
    if operation not in allowed:
        raise ValueError(f"unknown operation {operation!r}; one of {sorted(allowed)}")
    return operation


@contextlib.contextmanager
def db_operation(operation: str) -> Iterator[None]:
    """Time the block in db_query_duration_seconds{operation}, whether it succeeds or not."""
    with DB_QUERY_DURATION.labels(_checked(operation, DB_OPERATIONS)).time():
        yield


@contextlib.contextmanager
def redis_operation(operation: str) -> Iterator[None]:
    """Count the block in redis_operations_total{operation, outcome}; exceptions propagate."""
    _checked(operation, REDIS_OPERATIONS)
    try:
        yield
    except BaseException:
        REDIS_OPERATIONS_TOTAL.labels(operation, "error").inc()
        raise
    REDIS_OPERATIONS_TOTAL.labels(operation, "ok").inc()


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
