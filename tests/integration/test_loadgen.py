"""The runbook tests' load generator (loadgen.py) against a real HTTPS server on 127.0.0.1:
what it counts as a failure, and that it stops as its bounds say."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadgen import LoadGenerator, https_connection, unverified_context


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b'{"status": "ok", "version": "1.0.0"}'
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def server(certificate: tuple[Path, Path]) -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.status = 200  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd: http.server.ThreadingHTTPServer) -> str:
    return f"https://127.0.0.1:{httpd.server_address[1]}/health"


def test_counts_answers_and_versions_until_min_requests(server) -> None:
    with LoadGenerator(url(server), rate=200, threads=4, min_requests=100) as load:
        pass
    assert load.result.sent >= 100
    assert load.result.ok == load.result.sent and load.result.failed == 0
    assert load.result.versions == {"1.0.0": load.result.sent}


def test_a_failed_request_ends_the_load_without_waiting_for_min_requests(server) -> None:
    server.status = 503
    started = time.monotonic()
    with LoadGenerator(url(server), rate=50, threads=2, min_requests=100_000,
                       max_duration=300) as load:
        time.sleep(0.5)
    assert time.monotonic() - started < 30
    assert load.result.failed > 0
    assert load.result.failures.get("HTTP 503") == load.result.failed
    assert load.result.sent < 100_000


def test_connection_errors_are_failures() -> None:
    with LoadGenerator(f"https://127.0.0.1:{closed_port()}/", rate=50, threads=1,
                       min_requests=5, timeout=2) as load:
        time.sleep(0.2)
    assert load.result.failed > 0 and load.result.ok == 0


def test_only_loopback_is_allowed() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        LoadGenerator("https://10.0.0.1/health")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_https_connection_sends_the_name_as_sni_to_a_loopback_address(
        certificate: tuple[Path, Path]) -> None:
    """The runbook tests reach nginx at 127.0.0.1 by the site's name (as SNI and Host)."""
    names: list[str | None] = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.status = 200  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.sni_callback = lambda _sock, name, _context: names.append(name)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        connection = https_connection(("127.0.0.1", httpd.server_address[1]),
                                      "api.dev.ideation.example.com", unverified_context(), 5)
        try:
            connection.request("GET", "/health")
            assert connection.getresponse().status == 200
        finally:
            connection.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert names == ["api.dev.ideation.example.com"]
