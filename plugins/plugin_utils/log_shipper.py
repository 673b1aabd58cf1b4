"""Ship host log files to CloudWatch Logs: tail, batch, put, and remember where it stopped.

Standard library and boto3 only, no Ansible import: the log_shipper role installs this very file
next to /usr/local/sbin/ideation-log-shipper (Debian's python3 with python3-boto3), and the unit
tests import it on the controller. The rules (line splitting, timestamps, batching within
PutLogEvents' limits, where to resume after a restart or a rotation, whether a batch whose put
had no answer arrived) are pure functions; the `Shipper` below does the file and AWS work.
Documented in docs/logging.md ("Log shipping") and roles/log_shipper/README.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import glob
import hashlib
import json
import logging
import os
import random
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("ideation-log-shipper")

# PutLogEvents' limits (CloudWatch Logs quotas): a batch holds at most 1,048,576 bytes, counted
# as the UTF-8 messages plus 26 bytes per event, at most 10,000 events, spans less than 24 hours,
# in time order; one event is at most 256 KiB with its 26 bytes.
MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_EVENTS = 10_000
MAX_SPAN_MS = 24 * 3600 * 1000 - 1
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
# CloudWatch rejects events older than 14 days or more than 2 hours ahead; a margin on each side
# keeps an event accepted between the check here and its arrival there.
MAX_AGE_MS = 14 * 24 * 3600 * 1000 - 3600 * 1000
MAX_AHEAD_MS = 2 * 3600 * 1000 - 300 * 1000
# The bytes just before a saved offset identify the file it belongs to (and a copy of it).
FINGERPRINT_BYTES = 128
FORMATS = ("nginx_json", "nginx_error", "plain")
_NGINX_ERROR_TIME = re.compile(rb"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) ")
_COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".lz4")


class ShipError(Exception):
    """A batch could not be delivered now; the position stays and the batch is retried."""


# --- Lines and timestamps ---------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One log line (without its newline) and the file offset just after it."""

    text: bytes
    end: int


def split_lines(data: bytes, start: int, *, final: bool = False) -> list[Line]:
    """The complete lines of `data`, read from offset `start`. A last line without its newline
    is left for later (the writer is still writing it) unless `final` (the file is closed)."""
    lines = []
    position = 0
    while True:
        newline = data.find(b"\n", position)
        if newline < 0:
            break
        lines.append(Line(data[position:newline], start + newline + 1))
        position = newline + 1
    if final and position < len(data):
        lines.append(Line(data[position:], start + len(data)))
    return lines


def clip_message(text: bytes) -> str:
    """The line as an event message: UTF-8 (invalid bytes replaced), a trailing CR dropped,
    cut to the largest event CloudWatch takes (a longer line would stop the whole batch)."""
    message = text.rstrip(b"\r").decode("utf-8", "replace")
    encoded = message.encode("utf-8")
    if len(encoded) > MAX_EVENT_BYTES:
        message = encoded[:MAX_EVENT_BYTES].decode("utf-8", "ignore")
    return message or " "


def line_timestamp(text: bytes, fmt: str, *, fallback_ms: int, utc_offset_s: int = 0) -> int:
    """The event time of a line in milliseconds since the epoch: nginx_json's `msec` (or its
    ISO 8601 `time`), nginx_error's leading local time; `fallback_ms` (when read) otherwise."""
    if fmt == "nginx_json":
        with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
            record = json.loads(text)
            if "msec" in record:
                return round(float(record["msec"]) * 1000)
            moment = datetime.datetime.fromisoformat(record["time"])
            return int(moment.timestamp() * 1000)
    elif fmt == "nginx_error":
        match = _NGINX_ERROR_TIME.match(text)
        if match:
            with contextlib.suppress(ValueError):
                moment = datetime.datetime(*map(int, match.groups()), tzinfo=datetime.timezone.utc)  # noqa: UP017 - 3.9
                return int(moment.timestamp()) * 1000 - utc_offset_s * 1000
    elif fmt != "plain":
        raise ValueError(f"unknown log format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fallback_ms


@dataclass(frozen=True)
class Event:
    """An event to put: its time, message, and the file offset just after its line."""

    timestamp: int
    message: str
    end: int

    @property
    def size(self) -> int:
        """What the event counts against a batch's 1 MB: UTF-8 bytes plus 26."""
        return len(self.message.encode("utf-8")) + EVENT_OVERHEAD


def to_events(
    lines: Iterable[Line], fmt: str, *, fallback_ms: int, utc_offset_s: int = 0
) -> list[Event]:
    """Events for the lines, in file order. A line without a time of its own takes the time of
    the line before it (an nginx_error continuation), or `fallback_ms` at the start."""
    events = []
    previous = fallback_ms
    for line in lines:
        timestamp = line_timestamp(line.text, fmt, fallback_ms=-1, utc_offset_s=utc_offset_s)
        previous = previous if timestamp < 0 else timestamp
        events.append(Event(previous, clip_message(line.text), line.end))
    return events


def acceptable(timestamp: int, now_ms: int) -> bool:
    """Whether CloudWatch takes an event of this time now (not older than 14 days, not more than
    2 hours ahead, with margins). Others are dropped here: CloudWatch would drop them anyway."""
    return now_ms - MAX_AGE_MS <= timestamp <= now_ms + MAX_AHEAD_MS


# --- Batches -------------------------------------------------------------------------------


def plan_batches(
    events: Sequence[Event],
    *,
    max_bytes: int = MAX_BATCH_BYTES,
    max_events: int = MAX_BATCH_EVENTS,
    max_span_ms: int = MAX_SPAN_MS,
) -> list[list[Event]]:
    """Cut the events, in file order, into consecutive batches within PutLogEvents' limits: each
    batch is one stretch of the file, so committing its last offset commits exactly its lines."""
    batches: list[list[Event]] = []
    batch: list[Event] = []
    size = 0
    low = high = 0
    for event in events:
        if event.size > max_bytes:
            raise ValueError(f"an event of {event.size} bytes exceeds a batch of {max_bytes}")
        if batch and (
            len(batch) + 1 > max_events
            or size + event.size > max_bytes
            or max(high, event.timestamp) - min(low, event.timestamp) > max_span_ms
        ):
            batches.append(batch)
            batch, size = [], 0
        if not batch:
            low = high = event.timestamp
        batch.append(event)
        size += event.size
        low, high = min(low, event.timestamp), max(high, event.timestamp)
    if batch:
        batches.append(batch)
    return batches


def put_order(batch: Sequence[Event]) -> list[dict[str, Any]]:
    """The batch as PutLogEvents' logEvents: in time order (CloudWatch requires it), lines of the
    same time in file order."""
    ordered = sorted(batch, key=lambda event: event.timestamp)
    return [{"timestamp": e.timestamp, "message": e.message} for e in ordered]


def delivered(batch: Sequence[Event], stored: Iterable[str]) -> bool:
    """Whether a batch whose put got no answer is in the stream: every one of its messages, as
    often as it occurs in the batch, among the messages stored in its time window."""
    have = collections.Counter(stored)
    return all(
        have[message] >= n for message, n in collections.Counter(e.message for e in batch).items()
    )


def backoff_seconds(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Wait before retry `attempt` (0 first): doubling from `base` up to `cap`, scaled by
    `jitter` in [0, 1] to between half and all of it, so hosts do not retry in step."""
    return min(cap, base * 2 ** min(attempt, 30)) * (0.5 + jitter / 2)


# --- Where to read from -----------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """How far a file was shipped: its inode, the offset after the last line put, and the hash
    of the bytes before that offset ("" at 0), which tells the same file or a copy of it."""

    inode: int
    offset: int
    fingerprint: str = ""


@dataclass(frozen=True)
class FileView:
    """A file as seen now. `fingerprint` is the hash of its bytes before the saved offset
    (None when it is shorter than that offset)."""

    path: str
    inode: int
    size: int
    mtime: float
    fingerprint: str | None


@dataclass(frozen=True)
class Plan:
    """What to read next: `path` (None: nothing yet) from `offset`, expecting `inode`. `final`:
    the file is rotated and quiet, so a last line without a newline is complete. `lost` says
    why lines may have been missed (a rotation that got away), for the log."""

    path: str | None
    inode: int = 0
    offset: int = 0
    final: bool = False
    lost: str = ""


def fingerprint(data: bytes) -> str:
    """The identity of the bytes before an offset (sha256 of at most FINGERPRINT_BYTES)."""
    return hashlib.sha256(data[-FINGERPRINT_BYTES:]).hexdigest() if data else ""


def choose_source(
    saved: Position | None,
    current: FileView | None,
    rotated: Sequence[FileView],
    *,
    now: float,
    grace_s: float,
    start_at_end: bool = False,
) -> Plan:
    """Where the shipper continues, given its saved position, the file at the configured path
    and the rotated files beside it (path.1, path-20261206, ...; compressed ones are not read).

    Same inode and same bytes before the offset: continue there. Renamed (logrotate create): the
    rotated file with that inode, from the offset, then the new file from 0 once the old one is
    read and quiet (the new file has lines, or the old one saw no write for `grace_s`: nginx may
    write to the old file until it reopens its logs). Truncated in place (copytruncate): the copy
    whose bytes before the offset match, from the offset, then the truncated file from 0.
    Otherwise the path's file from 0, saying what may be lost.
    """
    if saved is None:
        if current is None:
            return Plan(None)
        return Plan(current.path, current.inode, current.size if start_at_end else 0)
    if current and current.inode == saved.inode and current.fingerprint == saved.fingerprint:
        return Plan(current.path, current.inode, saved.offset)
    old = next(
        (v for v in rotated if v.inode == saved.inode and v.fingerprint == saved.fingerprint),
        None,
    )
    if old is None and saved.offset > 0:
        old = next(
            (v for v in rotated if v.fingerprint == saved.fingerprint and v.size >= saved.offset),
            None,
        )
    if old is not None:
        renamed = old.inode == saved.inode
        quiet = now - old.mtime > grace_s
        if old.size > saved.offset or current is None:
            return Plan(old.path, old.inode, saved.offset, final=quiet or not renamed)
        if renamed and not quiet and current.size == 0:
            return Plan(old.path, old.inode, saved.offset)
        return Plan(current.path, current.inode, 0)
    if current is None:
        return Plan(None)
    lost = ""
    if saved.offset > 0:
        lost = (
            f"the file shipped up to offset {saved.offset} (inode {saved.inode}) is no longer "
            f"at {current.path} nor among its rotated files: lines after that offset may be lost"
        )
    return Plan(current.path, current.inode, 0, lost=lost)


def rotated_paths(path: str) -> list[str]:
    """The rotated files of `path` a shipper looks at: path.N and path-DATE, not compressed."""
    found = set(glob.glob(glob.escape(path) + ".*")) | set(glob.glob(glob.escape(path) + "-*"))
    return sorted(p for p in found if not p.endswith(_COMPRESSED))


# --- State on disk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A batch being put (written before the put): it ends at `end` of the position's file,
    holds `count` events between `first` and `last` (ms). Present after a restart, the batch is
    looked for in the stream before it is put again."""

    end: int
    count: int
    first: int
    last: int


@dataclass(frozen=True)
class State:
    position: Position | None = None
    pending: Pending | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        position = data.get("position")
        pending = data.get("pending")
        return cls(
            Position(**position) if position else None, Pending(**pending) if pending else None
        )


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old or the new file, never half."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- Settings and the shipper -----------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One file shipped to one stream of one group."""

    name: str
    path: str
    group: str
    stream: str
    format: str = "plain"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"source {self.name}: format must be one of {', '.join(FORMATS)}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"source name {self.name!r}: letters, digits and _.- only")


@dataclass(frozen=True)
class Settings:
    sources: tuple[Source, ...]
    state_dir: str
    region: str
    endpoint_url: str = ""
    interval: float = 2.0
    grace: float = 5.0
    retry_base: float = 1.0
    retry_max: float = 60.0
    read_bytes: int = 4 * MAX_BATCH_BYTES
    start_at_end: bool = False
    timeout: float = 10.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Settings:
        values = dict(data)
        sources = tuple(Source(**s) for s in values.pop("sources"))
        if len({s.name for s in sources}) != len(sources):
            raise ValueError("source names must be unique (each has its own state file)")
        return cls(sources=sources, **values)


Sleep = Callable[[float], None]


class Shipper:
    """Ships each source's new lines, one batch at a time: record the batch as pending, put it,
    then move the position past it. Any failure leaves the position where it was."""

    def __init__(self, settings: Settings, logs: Any, *, crash_after_put: bool = False) -> None:
        self.settings = settings
        self.logs = logs
        self.crash_after_put = crash_after_put
        self.state_dir = Path(settings.state_dir)
        self.states = {s.name: self._load(s) for s in settings.sources}
        self.streams: set[tuple[str, str]] = set()
        self.utc_offset_s = time.localtime().tm_gmtoff

    def _state_file(self, source: Source) -> Path:
        return self.state_dir / f"{source.name}.json"

    def _load(self, source: Source) -> State:
        with contextlib.suppress(FileNotFoundError):
            return State.from_json(self._state_file(source).read_text(encoding="utf-8"))
        return State()

    def _save(self, source: Source, state: State) -> None:
        write_atomically(self._state_file(source), state.to_json())
        self.states[source.name] = state

    def cycle(self) -> int:
        """Ship what every source has now; the number of events put. Raises ShipError when
        CloudWatch cannot be reached or refuses (the caller backs off)."""
        total = 0
        for source in self.settings.sources:
            while True:
                shipped, more = self._ship_some(source)
                total += shipped
                if not more:
                    break
        return total

    def _view(self, path: str, saved: Position | None) -> FileView | None:
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                mark = ""
                if saved and saved.offset:
                    length = min(FINGERPRINT_BYTES, saved.offset)
                    data = os.pread(handle.fileno(), length, saved.offset - length)
                    mark = fingerprint(data) if len(data) == length else None
                elif saved:
                    mark = ""
                return FileView(path, stat.st_ino, stat.st_size, stat.st_mtime, mark)
        except OSError:
            return None

    def _ship_some(self, source: Source) -> tuple[int, bool]:
        """Read from where the source stands and put what was read; (events put, more to do)."""
        state = self.states[source.name]
        saved = state.position
        current = self._view(source.path, saved)
        rotated = [v for p in rotated_paths(source.path) if (v := self._view(p, saved))]
        plan = choose_source(
            saved,
            current,
            rotated,
            now=time.time(),
            grace_s=self.settings.grace,
            start_at_end=self.settings.start_at_end,
        )
        if plan.path is None:
            return 0, False
        if plan.lost:
            LOG.warning("%s: %s", source.name, plan.lost)
        try:
            handle = open(plan.path, "rb")  # noqa: SIM115 - only the open may fail quietly
        except OSError:
            return 0, False
        with handle:
            fd = handle.fileno()
            if os.fstat(fd).st_ino != plan.inode:
                return 0, False  # renamed between the look and the open: look again
            if saved is None or (plan.inode, plan.offset) != (saved.inode, saved.offset):
                # Another file: from here on the position is in it. A copy left by copytruncate
                # continues at the same offset, with the batch that was pending there.
                keep = saved is not None and plan.offset == saved.offset
                self._save(
                    source,
                    State(
                        self._position(fd, plan.inode, plan.offset), state.pending if keep else None
                    ),
                )
                LOG.info(
                    "%s: reading %s (inode %d) from offset %d",
                    source.name,
                    plan.path,
                    plan.inode,
                    plan.offset,
                )
            data = os.pread(fd, self.settings.read_bytes, plan.offset)
            # A line longer than a whole read is cut where the read ends (it is clipped anyway).
            full = len(data) == self.settings.read_bytes
            lines = split_lines(data, plan.offset, final=plan.final or (full and b"\n" not in data))
            if not lines:
                return 0, False
            now_ms = int(time.time() * 1000)
            events = to_events(
                lines, source.format, fallback_ms=now_ms, utc_offset_s=self.utc_offset_s
            )
            shipped = self._deliver_all(source, fd, plan.inode, events, now_ms)
        return shipped, full or plan.final

    def _deliver_all(
        self, source: Source, fd: int, inode: int, events: list[Event], now_ms: int
    ) -> int:
        pending = self.states[source.name].pending
        batches: list[list[Event]] = []
        if pending is not None:
            head = [e for e in events if e.end <= pending.end]
            if head and head[-1].end == pending.end:
                batches.append(head)
                events = events[len(head) :]
            else:
                LOG.warning("%s: the pending batch no longer matches the file", source.name)
                self._save(source, State(self.states[source.name].position, None))
        batches += plan_batches(events)
        shipped = 0
        for batch in batches:
            shipped += self._deliver(source, fd, inode, batch, now_ms)
        return shipped

    def _deliver(self, source: Source, fd: int, inode: int, batch: list[Event], now_ms: int) -> int:
        state = self.states[source.name]
        sendable = [e for e in batch if acceptable(e.timestamp, now_ms)]
        if len(sendable) < len(batch):
            LOG.warning(
                "%s: %d lines are older than 14 days or far ahead: CloudWatch takes none of them",
                source.name,
                len(batch) - len(sendable),
            )
        end = batch[-1].end
        pending = state.pending
        if pending is not None and pending.end == end:
            if not sendable or self._stored(source, sendable, pending):
                LOG.info("%s: the pending batch of %d lines had arrived", source.name, len(batch))
                self._commit(source, fd, inode, end)
                return 0
        elif sendable:
            stamps = [e.timestamp for e in sendable]
            pending = Pending(end, len(sendable), min(stamps), max(stamps))
            self._save(source, State(state.position, pending))
        if sendable:
            self._put(source, sendable)
            if self.crash_after_put:
                os._exit(17)  # tests: die after a put, before the position moves
        self._commit(source, fd, inode, end)
        return len(sendable)

    @staticmethod
    def _position(fd: int, inode: int, offset: int) -> Position:
        length = min(FINGERPRINT_BYTES, offset)
        return Position(inode, offset, fingerprint(os.pread(fd, length, offset - length)))

    def _commit(self, source: Source, fd: int, inode: int, end: int) -> None:
        self._save(source, State(self._position(fd, inode, end), None))

    def _put(self, source: Source, batch: list[Event]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = (source.group, source.stream)
        for attempt in range(2):
            try:
                if key not in self.streams:
                    self._create_stream(source)
                response = self.logs.put_log_events(
                    logGroupName=source.group,
                    logStreamName=source.stream,
                    logEvents=put_order(batch),
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException" and attempt == 0:
                    self.streams.discard(key)
                    continue
                raise ShipError(f"{source.name}: PutLogEvents to {source.group}: {code}") from error
            except BotoCoreError as error:
                raise ShipError(
                    f"{source.name}: PutLogEvents to {source.group}: {error}"
                ) from error
            rejected = response.get("rejectedLogEventsInfo")
            if rejected:
                LOG.warning("%s: CloudWatch rejected some events: %s", source.name, rejected)
            return

    def _create_stream(self, source: Source) -> None:
        from botocore.exceptions import ClientError

        try:
            self.logs.create_log_stream(logGroupName=source.group, logStreamName=source.stream)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
        self.streams.add((source.group, source.stream))

    def _stored(self, source: Source, batch: list[Event], pending: Pending) -> bool:
        """Whether the pending batch is in the stream (GetLogEvents over its time window)."""
        from botocore.exceptions import BotoCoreError, ClientError

        messages: list[str] = []
        token = None
        try:
            while True:
                arguments: dict[str, Any] = {
                    "logGroupName": source.group,
                    "logStreamName": source.stream,
                    "startTime": pending.first,
                    "endTime": pending.last + 1,
                    "startFromHead": True,
                }
                if token:
                    arguments["nextToken"] = token
                page = self.logs.get_log_events(**arguments)
                messages += [event["message"] for event in page.get("events", [])]
                if not page.get("events") or page.get("nextForwardToken") == token:
                    break
                token = page.get("nextForwardToken")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise ShipError(f"{source.name}: GetLogEvents on {source.group}: {error}") from error
        except BotoCoreError as error:
            raise ShipError(f"{source.name}: GetLogEvents on {source.group}: {error}") from error
        return delivered(batch, messages)


def cloudwatch_client(settings: Settings) -> Any:
    """A CloudWatch Logs client that fails fast: the shipper retries with its own backoff."""
    import boto3  # only here: the rules above need no AWS library
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        retries={"total_max_attempts": 1},
    )
    options: dict[str, Any] = {"region_name": settings.region, "config": config}
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    return boto3.client("logs", **options)


def run(shipper: Shipper, *, once: bool, stop: Callable[[], bool], sleep: Sleep) -> int:
    """Cycle until `stop()`: ship, then wait the interval, or back off after a failure."""
    settings = shipper.settings
    attempt = 0
    while not stop():
        try:
            shipped = shipper.cycle()
        except ShipError as error:
            wait = backoff_seconds(
                attempt, base=settings.retry_base, cap=settings.retry_max, jitter=random.random()
            )
            LOG.warning("%s; retrying in %.1f s", error, wait)
            if once:
                return 1
            attempt += 1
            sleep(wait)
            continue
        if attempt:
            LOG.info("CloudWatch Logs answers again after %d failed attempts", attempt)
        attempt = 0
        if shipped:
            LOG.debug("put %d events", shipped)
        if once:
            return 0
        sleep(settings.interval)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Ship the configured log files to CloudWatch Logs, for ever (or once, for a check)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", required=True, help="settings file (JSON)")
    parser.add_argument("--once", action="store_true", help="one cycle, then exit")
    parser.add_argument("--crash-after-put", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    settings = Settings.from_mapping(json.loads(Path(args.config).read_text(encoding="utf-8")))
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    shipper = Shipper(settings, cloudwatch_client(settings), crash_after_put=args.crash_after_put)
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    return run(shipper, once=args.once, stop=lambda: bool(stopping), sleep=sleep)


if __name__ == "__main__":
    sys.exit(main())
