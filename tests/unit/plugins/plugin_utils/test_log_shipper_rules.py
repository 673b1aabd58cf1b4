"""The log shipper's rules (plugins/plugin_utils/log_shipper.py, the file the log_shipper role
installs as /usr/local/sbin/ideation-log-shipper's module): lines, timestamps, PutLogEvents
batches, where to resume after a restart or a rotation, and whether a pending batch arrived.
The shipper process against moto is tested in tests/integration/test_log_shipper.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.log_shipper import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    MAX_SPAN_MS,
    Event,
    FileView,
    Line,
    Pending,
    Plan,
    Position,
    Settings,
    State,
    acceptable,
    backoff_seconds,
    choose_source,
    clip_message,
    delivered,
    fingerprint,
    line_timestamp,
    plan_batches,
    put_order,
    rotated_paths,
    split_lines,
    to_events,
)
from hypothesis import given
from hypothesis import strategies as st

HOUR_MS = 3600 * 1000


# --- Lines and timestamps ---------------------------------------------------------------------


def test_split_lines_keeps_a_line_still_being_written_for_later() -> None:
    lines = split_lines(b"one\ntwo\nthr", 100)
    assert lines == [Line(b"one", 104), Line(b"two", 108)]


def test_split_lines_takes_the_last_line_of_a_closed_file() -> None:
    assert split_lines(b"one\nlast", 0, final=True) == [Line(b"one", 4), Line(b"last", 8)]
    assert split_lines(b"", 0, final=True) == []


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=20))
def test_split_lines_ends_are_the_offsets_after_each_newline(parts: list[bytes]) -> None:
    data = b"".join(p + b"\n" for p in parts)
    lines = split_lines(data, 7)
    assert [line.text for line in lines] == parts
    assert [line.end for line in lines] == [
        7 + len(b"".join(p + b"\n" for p in parts[: i + 1])) for i in range(len(parts))
    ]


def test_nginx_json_time_is_its_msec_field() -> None:
    line = json.dumps({"msec": "1796558400.123", "time": "2026-12-06T12:00:00+00:00"}).encode()
    assert line_timestamp(line, "nginx_json", fallback_ms=0) == 1796558400123


def test_nginx_json_without_msec_falls_back_to_its_iso_time() -> None:
    line = json.dumps({"time": "2026-12-06T13:00:00+01:00"}).encode()
    assert line_timestamp(line, "nginx_json", fallback_ms=0) == 1796558400000


def test_nginx_error_time_is_local_time_at_the_line_start() -> None:
    line = b"2026/12/06 13:00:00 [error] 12#12: *1 connect() failed"
    assert line_timestamp(line, "nginx_error", fallback_ms=0, utc_offset_s=0) == 1796562000000
    # The same wall clock an hour east of UTC is an hour earlier.
    assert line_timestamp(line, "nginx_error", fallback_ms=0, utc_offset_s=3600) == (
        1796562000000 - HOUR_MS
    )


@pytest.mark.parametrize(
    ("line", "fmt"),
    [(b"not json", "nginx_json"), (b'{"status": 200}', "nginx_json"), (b"boom", "nginx_error")],
)
def test_a_line_without_a_time_takes_the_fallback(line: bytes, fmt: str) -> None:
    assert line_timestamp(line, fmt, fallback_ms=42) == 42
    assert line_timestamp(b"anything", "plain", fallback_ms=42) == 42


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format 'syslog'"):
        line_timestamp(b"x", "syslog", fallback_ms=0)


def test_a_continuation_line_takes_the_time_of_the_line_before() -> None:
    lines = [Line(b"2026/12/06 13:00:00 [crit] first", 10), Line(b"  continued", 20)]
    events = to_events(lines, "nginx_error", fallback_ms=5)
    assert [e.timestamp for e in events] == [1796562000000, 1796562000000]
    assert to_events([Line(b"orphan", 3)], "nginx_error", fallback_ms=5)[0].timestamp == 5


def test_messages_are_utf8_and_cut_to_the_largest_event() -> None:
    assert clip_message(b"caf\xc3\xa9\r") == "café"
    assert clip_message(b"\xff") == "\ufffd"
    assert clip_message(b"") == " "  # CloudWatch refuses an empty message
    long = clip_message("é".encode() * MAX_EVENT_BYTES)
    assert len(long.encode()) <= MAX_EVENT_BYTES
    assert len(long.encode()) >= MAX_EVENT_BYTES - 1


def test_only_times_cloudwatch_takes_are_acceptable() -> None:
    now = 1796562000000
    assert acceptable(now, now)
    assert acceptable(now - 13 * 24 * HOUR_MS, now)
    assert not acceptable(now - 14 * 24 * HOUR_MS, now)
    assert acceptable(now + HOUR_MS, now)
    assert not acceptable(now + 2 * HOUR_MS, now)


# --- Batches -------------------------------------------------------------------------------

events_strategy = st.lists(
    st.builds(
        lambda ts, size: (ts, "x" * size),
        st.integers(min_value=0, max_value=3 * 24 * HOUR_MS),
        st.integers(min_value=1, max_value=400),
    ),
    max_size=300,
).map(lambda pairs: [Event(ts, msg, i + 1) for i, (ts, msg) in enumerate(pairs)])


@given(
    events_strategy,
    st.integers(min_value=427, max_value=5000),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=0, max_value=30 * HOUR_MS),
)
def test_batches_cover_every_event_once_in_order_within_the_limits(
    events: list[Event], max_bytes: int, max_events: int, max_span: int
) -> None:
    batches = plan_batches(events, max_bytes=max_bytes, max_events=max_events, max_span_ms=max_span)
    assert [e for batch in batches for e in batch] == events
    for batch in batches:
        assert batch
        assert len(batch) <= max_events
        assert sum(len(e.message.encode()) + EVENT_OVERHEAD for e in batch) <= max_bytes
        stamps = [e.timestamp for e in batch]
        assert max(stamps) - min(stamps) <= max_span
    # Greedy: a batch is closed only because its next event would break a limit.
    for batch, following in itertools.pairwise(batches):
        grown = [*batch, following[0]]
        stamps = [e.timestamp for e in grown]
        assert (
            len(grown) > max_events
            or sum(e.size for e in grown) > max_bytes
            or max(stamps) - min(stamps) > max_span
        )


def test_cloudwatch_limits_cut_a_large_backlog() -> None:
    # 10,001 small events: the count limit, not the size, makes the second batch.
    small = [Event(1000 + i, "x", i) for i in range(MAX_BATCH_EVENTS + 1)]
    assert [len(b) for b in plan_batches(small)] == [MAX_BATCH_EVENTS, 1]
    # 1,048,576 bytes with overheads: 4 events of 262,118 bytes fill a batch exactly.
    big = [Event(1000, "y" * MAX_EVENT_BYTES, i) for i in range(5)]
    assert (MAX_EVENT_BYTES + EVENT_OVERHEAD) * 4 == MAX_BATCH_BYTES
    assert [len(b) for b in plan_batches(big)] == [4, 1]
    # Lines 24 hours apart cannot share a batch.
    apart = [Event(0, "a", 1), Event(MAX_SPAN_MS, "b", 2), Event(MAX_SPAN_MS + 1, "c", 3)]
    assert [len(b) for b in plan_batches(apart)] == [2, 1]


def test_an_event_larger_than_a_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds a batch of 100"):
        plan_batches([Event(0, "z" * 100, 1)], max_bytes=100)


@given(events_strategy)
def test_a_batch_is_put_in_time_order_keeping_file_order_for_equal_times(
    events: list[Event],
) -> None:
    ordered = put_order(events)
    assert [e["timestamp"] for e in ordered] == sorted(e.timestamp for e in events)
    for ts in {e.timestamp for e in events}:
        assert [e["message"] for e in ordered if e["timestamp"] == ts] == [
            e.message for e in events if e.timestamp == ts
        ]


def test_a_pending_batch_arrived_only_if_all_its_lines_are_stored() -> None:
    batch = [Event(1, "a", 2), Event(1, "a", 4), Event(2, "b", 6)]
    assert delivered(batch, ["z", "a", "b", "a"])
    assert not delivered(batch, ["a", "b"])  # one of the two "a" lines is missing
    assert not delivered(batch, [])


@given(st.integers(min_value=0, max_value=100), st.floats(min_value=0, max_value=1))
def test_backoff_doubles_up_to_its_cap_with_jitter(attempt: int, jitter: float) -> None:
    wait = backoff_seconds(attempt, base=1.0, cap=60.0, jitter=jitter)
    assert min(60.0, 2.0**attempt) / 2 <= wait <= min(60.0, 2.0**attempt)
    assert backoff_seconds(attempt + 1, base=1.0, cap=60.0, jitter=jitter) >= wait


# --- Where to resume ---------------------------------------------------------------------------

HEAD = fingerprint(b"the bytes before the saved offset")
NOW = 1_000_000.0


def view(path: str, inode: int, size: int, mark: str | None = HEAD, age: float = 60) -> FileView:
    return FileView(path, inode, size, NOW - age, mark)


def choose(saved: Position | None, current: FileView | None, *rotated: FileView) -> Plan:
    return choose_source(saved, current, rotated, now=NOW, grace_s=5)


SAVED = Position(inode=7, offset=500, fingerprint=HEAD)


def test_a_new_source_starts_at_the_beginning_or_the_end() -> None:
    current = view("/l/a.log", 7, 900, "")
    assert choose(None, current) == Plan("/l/a.log", 7, 0)
    assert choose_source(None, current, [], now=NOW, grace_s=5, start_at_end=True) == Plan(
        "/l/a.log", 7, 900
    )
    assert choose(None, None) == Plan(None)


def test_the_same_file_continues_at_the_saved_offset() -> None:
    assert choose(SAVED, view("/l/a.log", 7, 800)) == Plan("/l/a.log", 7, 500)


def test_a_renamed_file_is_read_to_its_end_before_the_new_one() -> None:
    old = view("/l/a.log.1", 7, 800, age=1)
    assert choose(SAVED, view("/l/a.log", 8, 0, None), old) == Plan("/l/a.log.1", 7, 500)
    # Between logrotate's rename and nginx's reopen there is no file at the path.
    assert choose(SAVED, None, old) == Plan("/l/a.log.1", 7, 500)


def test_after_a_rename_the_new_file_waits_until_the_old_one_is_quiet() -> None:
    busy = view("/l/a.log.1", 7, 500, age=1)
    empty_new = view("/l/a.log", 8, 0, None)
    assert choose(SAVED, empty_new, busy) == Plan("/l/a.log.1", 7, 500)
    # nginx reopened (the new file has lines) or the old file saw no write for the grace time.
    assert choose(SAVED, view("/l/a.log", 8, 40, None), busy) == Plan("/l/a.log", 8, 0)
    quiet = view("/l/a.log.1", 7, 500, age=10)
    assert choose(SAVED, empty_new, quiet) == Plan("/l/a.log", 8, 0)


def test_a_quiet_rotated_file_gives_up_its_last_line_without_a_newline() -> None:
    quiet = view("/l/a.log.1", 7, 520, age=10)
    assert choose(SAVED, view("/l/a.log", 8, 0, None), quiet).final
    assert not choose(SAVED, view("/l/a.log", 8, 0, None), view("/l/a.log.1", 7, 520, age=1)).final


def test_copytruncate_continues_in_the_copy_whose_bytes_match() -> None:
    truncated = view("/l/a.log", 7, 100, None)
    copy = view("/l/a.log.1", 9, 800)
    other = view("/l/a.log.2", 10, 900, fingerprint(b"something else"))
    assert choose(SAVED, truncated, other, copy) == Plan("/l/a.log.1", 9, 500, final=True)
    # The truncated file grew past the offset again: its bytes there differ, the copy decides.
    regrown = view("/l/a.log", 7, 900, fingerprint(b"new lines"))
    assert choose(SAVED, regrown, copy) == Plan("/l/a.log.1", 9, 500, final=True)
    # The copy read to its end: the truncated file from its beginning.
    done = view("/l/a.log.1", 9, 500)
    assert choose(SAVED, truncated, done) == Plan("/l/a.log", 7, 0)


def test_a_file_that_got_away_restarts_at_zero_and_says_so() -> None:
    plan = choose(SAVED, view("/l/a.log", 8, 300, None), view("/l/a.log.1", 11, 300, None))
    assert (plan.path, plan.inode, plan.offset) == ("/l/a.log", 8, 0)
    assert "offset 500 (inode 7)" in plan.lost
    assert choose(Position(7, 0), view("/l/a.log", 8, 300, "")).lost == ""
    assert choose(SAVED, None) == Plan(None)


def test_rotated_files_are_the_uncompressed_siblings(tmp_path: Path) -> None:
    for name in ["a.log", "a.log.1", "a.log.2.gz", "a.log-20261206", "a.log-20261205.xz", "b.log"]:
        (tmp_path / name).write_text("")
    assert rotated_paths(str(tmp_path / "a.log")) == [
        str(tmp_path / "a.log-20261206"),
        str(tmp_path / "a.log.1"),
    ]


# --- State and settings ------------------------------------------------------------------------


def test_state_survives_its_file() -> None:
    state = State(Position(7, 500, HEAD), Pending(end=900, count=3, first=10, last=20))
    assert State.from_json(state.to_json()) == state
    assert State.from_json(State().to_json()) == State()


def test_settings_refuse_a_bad_source() -> None:
    base = {"state_dir": "/tmp/s", "region": "eu-west-1"}
    source = {"name": "a", "path": "/l/a", "group": "/g", "stream": "s", "format": "plain"}
    with pytest.raises(ValueError, match="format must be one of nginx_json, nginx_error, plain"):
        Settings.from_mapping({**base, "sources": [{**source, "format": "apache"}]})
    with pytest.raises(ValueError, match="source names must be unique"):
        Settings.from_mapping({**base, "sources": [source, source]})
    with pytest.raises(ValueError, match="letters, digits"):
        Settings.from_mapping({**base, "sources": [{**source, "name": "../x"}]})
