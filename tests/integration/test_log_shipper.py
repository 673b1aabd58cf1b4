"""The log shipper as a process (plugins/plugin_utils/log_shipper.py, what the log_shipper role
runs as ideation-log-shipper.service) against moto's CloudWatch Logs: lines written to files
arrive in their groups, once, through an outage of the endpoint, kill -9 and log rotation.

The shipper talks to moto through a TCP proxy that the tests stop and start: moto keeps its data
while the endpoint is unreachable. The outage lasts LOG_SHIPPER_OUTAGE_SECONDS (12 s by default,
to keep the suite fast; set 300 for the "several minutes" of issue 21: nothing in the shipper
depends on the length, it keeps its position and backs off up to `retry_max`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPER = REPO / "plugins" / "plugin_utils" / "log_shipper.py"
ACCESS = "/ideation/nginx/access"
ERROR = "/ideation/nginx/error"
OUTAGE_SECONDS = float(os.environ.get("LOG_SHIPPER_OUTAGE_SECONDS", "12"))


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the moto server; stop() makes the endpoint unreachable
    (listener and open connections closed), start() brings it back on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture(scope="module")
def proxy(moto_server: Any) -> Iterator[TcpProxy]:
    logs = moto_server.client("logs")
    for group in (ACCESS, ERROR):
        logs.create_log_group(logGroupName=group)
    proxy = TcpProxy(moto_server.port)
    proxy.start()
    yield proxy
    proxy.stop()


class Host:
    """A host's log directory and its shipper process."""

    def __init__(self, root: Path, moto: Any, proxy: TcpProxy, stream: str) -> None:
        self.root = root
        self.moto = moto
        self.stream = stream
        self.access = root / "access.log"
        self.error = root / "error.log"
        self.config = root / "shipper.json"
        self.log = root / "shipper.log"
        self.count = 0
        self.process: subprocess.Popen[bytes] | None = None
        settings = {
            "state_dir": str(root / "state"),
            "region": moto.region,
            "endpoint_url": proxy.url,
            "interval": 0.2,
            "grace": 1.0,
            "retry_base": 0.2,
            "retry_max": 2.0,
            "timeout": 2.0,
            "sources": [
                {
                    "name": "nginx-access",
                    "path": str(self.access),
                    "group": ACCESS,
                    "stream": stream,
                    "format": "nginx_json",
                },
                {
                    "name": "nginx-error",
                    "path": str(self.error),
                    "group": ERROR,
                    "stream": stream,
                    "format": "nginx_error",
                },
            ],
        }
        self.config.write_text(json.dumps(settings))

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        env = self.moto.env()
        env["AWS_ENDPOINT_URL"] = json.loads(self.config.read_text())["endpoint_url"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(SHIPPER), "--config", str(self.config), *extra],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self.process

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=15)

    def write(self, n: int, path: Path | None = None) -> None:
        """n access lines (nginx's JSON format), and an error line every tenth."""
        with (path or self.access).open("a") as out:
            for _ in range(n):
                self.count += 1
                out.write(
                    json.dumps(
                        {
                            "msec": f"{time.time():.3f}",
                            "status": 200,
                            "request_id": f"{self.stream}-{self.count}",
                        }
                    )
                    + "\n"
                )
                if self.count % 10 == 0:
                    with self.error.open("a") as error:
                        error.write(
                            time.strftime("%Y/%m/%d %H:%M:%S") + f" [error] 1#1: {self.count}\n"
                        )

    def expected(self) -> list[str]:
        return [f"{self.stream}-{i}" for i in range(1, self.count + 1)]

    def shipped(self) -> list[str]:
        return [json.loads(m)["request_id"] for m in stored(self.moto, ACCESS, self.stream)]

    def wait_shipped(self, timeout: float = 30) -> list[str]:
        """The access stream once it holds as many lines as were written (then a moment more,
        so that a duplicate would show), sorted as CloudWatch returns them."""
        wait_for(lambda: len(self.shipped()) >= self.count, timeout, self.log)
        time.sleep(1)
        return self.shipped()

    def stop_quietly(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)


def stored(moto: Any, group: str, stream: str) -> list[str]:
    """Every message of a stream, from moto directly (not through the proxy)."""
    logs = moto.client("logs")
    messages: list[str] = []
    token = None
    try:
        while True:
            args: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                args["nextToken"] = token
            page = logs.get_log_events(**args)
            if not page["events"]:
                return messages
            messages += [e["message"] for e in page["events"]]
            token = page["nextForwardToken"]
    except logs.exceptions.ResourceNotFoundException:
        return messages


def wait_for(predicate: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not shipped within {timeout:.0f}s; shipper log:\n{log.read_text()}")
        time.sleep(0.2)


@pytest.fixture
def host(
    tmp_path: Path, moto_server: Any, proxy: TcpProxy, request: pytest.FixtureRequest
) -> Iterator[Host]:
    host = Host(tmp_path, moto_server, proxy, request.node.name.replace("_", "-")[:100])
    yield host
    host.stop_quietly()


def test_lines_arrive_in_their_groups_once_through_an_outage(host: Host, proxy: TcpProxy) -> None:
    host.write(30)
    host.start()
    assert host.wait_shipped() == host.expected()
    errors = stored(host.moto, ERROR, host.stream)
    assert [m.rsplit(" ", 1)[-1] for m in errors] == ["10", "20", "30"]

    proxy.stop()
    try:
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            host.write(5)
            time.sleep(0.5)
        assert len(host.shipped()) == 30, "nothing can arrive while the endpoint is down"
        assert host.process is not None and host.process.poll() is None
    finally:
        proxy.start()
    host.write(7)
    assert host.wait_shipped() == host.expected()
    assert len(stored(host.moto, ERROR, host.stream)) == host.count // 10
    assert "retrying in" in host.log.read_text()


def test_a_crash_right_after_a_put_sends_nothing_twice(host: Host) -> None:
    """The window between a put that succeeded and the position written: the shipper dies there
    (--crash-after-put); the next one finds the pending batch in the stream and moves on."""
    host.write(20)
    assert host.start("--crash-after-put").wait(timeout=15) == 17
    assert host.shipped() == host.expected()[:20]
    state = json.loads((host.root / "state" / "nginx-access.json").read_text())
    assert state["pending"] is not None
    host.write(5)
    host.start()
    assert host.wait_shipped() == host.expected()
    assert "the pending batch of 20 lines had arrived" in host.log.read_text()


def test_kill_9_mid_way_loses_and_repeats_nothing(host: Host) -> None:
    host.start()
    for round_ in range(4):
        for _ in range(10):
            host.write(3)
            time.sleep(0.05)
        host.stop(signal.SIGKILL)
        host.write(4)
        host.start()
        if round_ == 1:
            time.sleep(0.5)
    assert host.wait_shipped() == host.expected()


def test_rotation_by_rename_while_running(host: Host) -> None:
    host.write(10)
    host.start()
    host.wait_shipped()
    host.write(10)
    rotated = host.root / "access.log.1"
    host.access.rename(rotated)
    host.write(5, rotated)  # nginx writes to the old file until it reopens its logs
    host.access.touch()
    time.sleep(0.3)
    host.write(10)
    assert host.wait_shipped() == host.expected()


def test_rotation_while_stopped_create_and_copytruncate(host: Host) -> None:
    host.write(10)
    host.start()
    host.wait_shipped()
    host.stop()
    # logrotate's create: the shipper comes back to a renamed file it had not finished.
    host.write(10)
    host.access.rename(host.root / "access.log.1")
    host.write(10)
    host.start()
    assert host.wait_shipped() == host.expected()
    host.stop()
    # copytruncate: the lines it had not read are in the copy, the file starts over.
    host.write(10)
    (host.root / "access.log.1").unlink()
    shutil.copyfile(host.access, host.root / "access.log.1")
    with host.access.open("r+") as handle:
        handle.truncate(0)
    host.write(3)
    host.start()
    assert host.wait_shipped() == host.expected()
    assert "may be lost" not in host.log.read_text()
