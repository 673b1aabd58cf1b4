"""gunicorn settings, from the environment (see examples/README.md)."""

import os

# prometheus_client picks its mode when first imported: multiprocess for gunicorn's workers only
# (each is a process; /metrics aggregates their files). The image does not set this variable, so
# every other process of the image keeps its metrics in memory.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus-multiproc")

from ideation_app import metrics

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").replace(",", " ").split()
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# SO_REUSEPORT: the api role's swap starts the new container on the same address while the
# old one still listens, then stops the old one; the kernel spreads connections over both.
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "false").lower() in ("1", "true", "yes")
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
timeout = 30
keepalive = 5
worker_tmp_dir = "/dev/shm"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'


def on_starting(server):
    metrics.reset_multiproc_dir()


def child_exit(server, worker):
    metrics.worker_exited(worker.pid)
