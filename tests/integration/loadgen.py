"""A bounded HTTPS load generator for the runbook tests: it sends GET requests to one URL on
127.0.0.1 at a steady rate from a few threads and counts every answer that is not 2xx and every
connection error as a failed request.

Each request opens its own connection (TLS sessions are resumed, as a browser would), so no
failure can hide behind a retried keep-alive connection. Bounded three ways: it never sends more
than `max_requests`, never runs longer than `max_duration` seconds, and once told to stop it
finishes as soon as it has sent at least `min_requests`, or at once when a request has failed
(the verdict is known, and a broken site answering in `timeout` would keep it going for long).

As a library (tests/integration/test_runbooks.py):

    with LoadGenerator(url, server_name="api.dev.ideation.example.com") as load:
        run_the_runbook()
    assert load.result.failed == 0

As a command: python tests/integration/loadgen.py URL --server-name NAME --rate 200 --seconds 30
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

SAMPLES = 20


@dataclass
class LoadResult:
    """What the load generator saw."""

    sent: int = 0
    ok: int = 0
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    versions: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def percentile(self, fraction: float) -> float:
        """A latency percentile in seconds (0 without requests)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "failures": dict(self.failures),
            "failure_samples": self.samples,
            "versions": dict(self.versions),
            "seconds": round(self.seconds, 1),
            "rate": round(self.sent / self.seconds, 1) if self.seconds else 0.0,
            "latency_p50_ms": round(self.percentile(0.5) * 1000, 1),
            "latency_p99_ms": round(self.percentile(0.99) * 1000, 1),
            "latency_max_ms": round(max(self.latencies, default=0.0) * 1000, 1),
        }


def unverified_context() -> ssl.SSLContext:
    """A TLS client context that does not check the certificate (the dev twin's is self-signed)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def https_connection(address: tuple[str, int], server_name: str, context: ssl.SSLContext,
                     timeout: float, session: ssl.SSLSession | None = None
                     ) -> http.client.HTTPConnection:
    """An HTTP connection over TLS to ``address`` that sends ``server_name`` as SNI (nginx
    refuses a handshake without a name it serves), whatever address it connects to."""
    raw = socket.create_connection(address, timeout=timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=server_name, session=session)
    except BaseException:
        raw.close()
        raise
    connection = http.client.HTTPConnection(server_name, timeout=timeout)
    connection.sock = sock
    return connection


class LoadGenerator:
    """Send requests at `rate` per second from `threads` threads until stopped (see module doc)."""

    def __init__(self, url: str, *, server_name: str | None = None, rate: float = 200.0,
                 threads: int = 8, min_requests: int = 10_000, max_requests: int = 200_000,
                 max_duration: float = 900.0, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or parts.hostname is None:
            raise ValueError(f"an https:// URL is needed, not {url!r}")
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the load goes to loopback only, not {parts.hostname}")
        self.address = (parts.hostname, parts.port or 443)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.server_name = server_name or parts.hostname
        self.interval = 1.0 / rate
        self.threads = threads
        self.min_requests = min_requests
        self.max_requests = max_requests
        self.max_duration = max_duration
        self.timeout = timeout
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._started = 0.0
        self._context = unverified_context()

    def __enter__(self) -> LoadGenerator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._started = time.monotonic()
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"loadgen-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> LoadResult:
        """Ask to stop, wait until at least min_requests were sent (or one failed, or a bound is
        hit), return."""
        self._stop.set()
        for worker in self._workers:
            worker.join()
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def _next_slot(self) -> float | None:
        """Reserve the next request: its scheduled start, or None when the load is over."""
        with self._lock:
            sent = self.result.sent
            elapsed = time.monotonic() - self._started
            if sent >= self.max_requests or elapsed >= self.max_duration:
                return None
            if self._stop.is_set() and (sent >= self.min_requests or self.result.failed):
                return None
            self.result.sent = sent + 1
            return self._started + sent * self.interval

    def _run(self) -> None:
        session: ssl.SSLSession | None = None
        while (slot := self._next_slot()) is not None:
            delay = slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            began = time.monotonic()
            try:
                status, body, session = self._request(session)
            except (OSError, http.client.HTTPException) as error:
                self._count(time.monotonic() - began, None, type(error).__name__, str(error))
                continue
            self._count(time.monotonic() - began, status, body, "")

    def _request(self, session: ssl.SSLSession | None) -> tuple[int, bytes, ssl.SSLSession | None]:
        connection = https_connection(self.address, self.server_name, self._context,
                                      self.timeout, session)
        sock = connection.sock  # HTTPConnection lets go of it once a "close" response is read
        try:
            connection.request("GET", self.path, headers={"Host": self.server_name,
                                                          "Connection": "close"})
            response = connection.getresponse()
            body = response.read()
            return response.status, body, sock.session
        finally:
            connection.close()

    def _count(self, latency: float, status: int | None, body: bytes | str, detail: str) -> None:
        now = round(time.monotonic() - self._started, 2)
        with self._lock:
            self.result.latencies.append(latency)
            if status is not None and 200 <= status < 300:
                self.result.ok += 1
                try:
                    version = json.loads(body).get("version")
                except (ValueError, AttributeError):
                    version = None
                if version:
                    self.result.versions[str(version)] += 1
                return
            kind = f"HTTP {status}" if status is not None else str(body)
            self.result.failures[kind] += 1
            if len(self.result.samples) < SAMPLES:
                self.result.samples.append(f"t={now}s {kind} {detail}".strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--server-name", help="TLS name and Host header (default: the URL's host)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--min-requests", type=int, default=0)
    args = parser.parse_args(argv)
    load = LoadGenerator(args.url, server_name=args.server_name, rate=args.rate,
                         threads=args.threads, min_requests=args.min_requests,
                         max_duration=args.seconds + 60)
    load.start()
    time.sleep(args.seconds)
    result = load.stop()
    json.dump(result.summary(), sys.stdout, indent=2)
    print()
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
