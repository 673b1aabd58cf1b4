#!/usr/bin/python3
"""Record every POST (Alertmanager webhooks, SNS Publish and CloudWatch PutMetricData calls) and
list them on GET /requests.

A stand-in for Amazon SNS, CloudWatch and a webhook receiver in the Molecule scenario. Answers
/sns like SNS's Publish action, so that Alertmanager counts the notification as sent, and
/cloudwatch like CloudWatch's PutMetricData (query protocol, as Debian 12's botocore speaks it).
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

RECORDED: list[dict] = []
LOCK = threading.Lock()
SNS_ANSWER = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>{id}</MessageId></PublishResult><ResponseMetadata><RequestId>{id}</RequestId>"
    "</ResponseMetadata></PublishResponse>"
)
CLOUDWATCH_ANSWER = (
    '<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
    "<ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></PutMetricDataResponse>"
)
FORM_PATHS = ("/sns", "/cloudwatch")


class Recorder(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: str, kind: str) -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(200, "ok\n", "text/plain")
        elif self.path == "/requests":
            with LOCK:
                self._answer(200, json.dumps(RECORDED), "application/json")
        else:
            self._answer(404, "not found\n", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        entry = {
            "path": self.path, "time": time.time(), "headers": dict(self.headers), "body": body
        }
        if self.path.startswith(FORM_PATHS):
            entry["form"] = {k: v[0] for k, v in parse_qs(body).items()}
        with LOCK:
            RECORDED.append(entry)
        if self.path.startswith("/sns"):
            self._answer(200, SNS_ANSWER.format(id=uuid.uuid4()), "text/xml")
        elif self.path.startswith("/cloudwatch"):
            self._answer(200, CLOUDWATCH_ANSWER.format(id=uuid.uuid4()), "text/xml")
        else:
            self._answer(200, "{}", "application/json")

    def log_message(self, *args) -> None:  # quiet
        pass


ThreadingHTTPServer(("0.0.0.0", 9099), Recorder).serve_forever()
