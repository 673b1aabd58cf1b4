"""Helpers shared by every scenario's testinfra tests (on PYTHONPATH through the base config).

A failed assertion about a service prints the unit's journal, so a red test explains itself.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

JOURNAL_LINES = 60


def journal(host, unit: str, lines: int = JOURNAL_LINES) -> str:
    """The last lines of a unit's journal on the host."""
    return host.run(f"journalctl -u {shlex.quote(unit)} -n {lines} --no-pager").stdout


def assert_running(host, unit: str) -> None:
    """Assert that a systemd unit is active and enabled, showing its journal when it is not."""
    service = host.service(unit)
    assert service.is_running, f"{unit} is not running; its journal:\n{journal(host, unit)}"
    assert service.is_enabled, f"{unit} is not enabled at boot"


@dataclass
class HttpResponse:
    """What curl saw: status, lower-cased headers and body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def json(self):
        return json.loads(self.body)


def http(host, url: str, *curl_args: str, method: str = "GET", data: str | None = None,
         timeout: int = 10) -> HttpResponse:
    """Make an HTTP request with curl from inside the host and parse the answer."""
    args = ["curl", "-sS", "-i", "--max-time", str(timeout), "-X", method, *curl_args]
    if data is not None:
        args += ["-H", "Content-Type: application/json", "--data", data]
    args.append(url)
    result = host.run(shlex.join(args))
    assert result.rc == 0, f"curl {url} failed ({result.rc}): {result.stderr}"
    raw = result.stdout.replace("\r\n", "\n")
    # Skip interim responses (100 Continue) and proxy preambles: the last header block wins.
    head, _, body = raw.rpartition("\n\nHTTP/") if raw.count("\nHTTP/") else ("", "", raw)
    text = ("HTTP/" + body) if head else raw
    header_block, _, payload = text.partition("\n\n")
    status_line, *header_lines = header_block.split("\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HttpResponse(int(status_line.split()[1]), headers, payload)


def default_ipv4(host) -> str:
    """The host's address on the scenario network (its 'private' address)."""
    return host.ansible("setup", "gather_subset=network")["ansible_facts"]["ansible_default_ipv4"][
        "address"
    ]


def metric_value(body: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` in a Prometheus text exposition whose labels include `labels`.

    0.0 when no sample matches (a counter that has not been incremented yet is absent).
    """
    total = 0.0
    for line in body.splitlines():
        # name{labels} value [timestamp]
        sample = re.fullmatch(r"(\w+)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?", line.strip())
        if not sample or sample.group(1) != name:
            continue
        label_text, value = sample.group(2) or "", sample.group(3)
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if all(found.get(key) == wanted for key, wanted in labels.items()):
            total += float(value)
    return total


def metric_samples(body: str, name: str, **labels: str) -> list[float]:
    """Values of the samples of `name` in a Prometheus text exposition whose labels include
    `labels` (in any order), one per sample."""
    found = []
    for line in body.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name:
            have = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
            if labels.items() <= have.items():
                found.append(float(match[3]))
    return found
