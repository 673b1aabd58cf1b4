"""ideation-log-shipper on a host with Debian's nginx, putting into moto's CloudWatch Logs on the
host's loopback (prepare.yml): nginx's lines arrive once, through logrotate and a restart."""

from __future__ import annotations

import json
import time
import uuid

from ideation_testinfra import assert_running, journal

UNIT = "ideation-log-shipper.service"
# The moto venv's Python reads the stream back (Debian's python3-boto3 would do as well).
READ = """
import json, sys, boto3
logs = boto3.client("logs", region_name="us-east-1", endpoint_url="http://127.0.0.1:5005",
                    aws_access_key_id="testing", aws_secret_access_key="testing")
messages, token = [], None
while True:
    args = dict(logGroupName=sys.argv[1], logStreamName="molecule-host", startFromHead=True)
    if token:
        args["nextToken"] = token
    try:
        page = logs.get_log_events(**args)
    except logs.exceptions.ResourceNotFoundException:
        break
    if not page["events"]:
        break
    messages += [e["message"] for e in page["events"]]
    token = page["nextForwardToken"]
print(json.dumps(messages))
"""


def stored(host, group: str) -> list[str]:
    result = host.run(f"/opt/moto/bin/python -c '{READ}' {group}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def request(host) -> str:
    marker = uuid.uuid4().hex
    host.run_expect([0], f"curl -s -o /dev/null http://127.0.0.1/?marker={marker}")
    return marker


def wait_for_markers(host, markers: list[str], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        messages = stored(host, "/ideation/nginx/access")
        if all(any(m in line for line in messages) for m in markers):
            return messages
        assert time.monotonic() < deadline, (
            f"not shipped within {timeout:.0f}s: {markers}; the shipper's journal:\n"
            f"{journal(host, UNIT)}"
        )
        time.sleep(0.5)


def file_lines(host) -> list[str]:
    text = host.run("cat /var/log/nginx/access.log.1 /var/log/nginx/access.log 2>/dev/null").stdout
    return [line for line in text.splitlines() if line]


def test_the_shipper_runs_as_an_unprivileged_reader(host):
    assert_running(host, UNIT)
    user = host.check_output(f"ps -o user= -p $(systemctl show -p MainPID --value {UNIT})")
    assert user not in ("root", "www-data"), user
    assert host.file("/var/log/nginx/access.log").mode == 0o640  # readable through group adm


def test_an_access_line_arrives_once_through_rotation_and_restart(host):
    first = request(host)
    wait_for_markers(host, [first])
    # Debian's nginx rotation: rename, create, USR1 (delaycompress keeps access.log.1 readable).
    host.run_expect([0], "logrotate --force /etc/logrotate.d/nginx")
    after_rotation = request(host)
    wait_for_markers(host, [after_rotation])
    host.run_expect([0], f"systemctl restart {UNIT}")
    after_restart = request(host)
    wait_for_markers(host, [after_restart])
    time.sleep(3)  # a duplicate would arrive now
    messages = stored(host, "/ideation/nginx/access")
    for marker in (first, after_rotation, after_restart):
        assert sum(marker in line for line in messages) == 1, marker
    # Every line of the rotated and the current file, once, and nothing else.
    assert sorted(messages) == sorted(file_lines(host))
