#!/usr/bin/python3
"""A stand-in for the Auto Scaling and EC2 query APIs on loopback, for ideation-upstream-sync.

Usage: asg-stub PORT STATE_FILE. STATE_FILE (JSON, re-read on every request):
{"fail": false, "groups": {NAME: [{"id", "state", "health", "address", "running"}]}}.
Answers DescribeAutoScalingGroups and DescribeInstances as AWS does (XML); with "fail" true every
request gets a Throttling error. Only what the sync reads is in the answers.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

PORT, STATE = int(sys.argv[1]), sys.argv[2]


def groups(state, params):
    wanted = [v[0] for k, v in params.items() if k.startswith("AutoScalingGroupNames.member.")]
    members = ""
    for name, group in state["groups"].items():
        if wanted and name not in wanted:
            continue
        instances = "".join(
            f"<member><InstanceId>{escape(i['id'])}</InstanceId>"
            f"<LifecycleState>{escape(i['state'])}</LifecycleState>"
            f"<HealthStatus>{escape(i.get('health', 'Healthy'))}</HealthStatus></member>"
            for i in group
        )
        members += (
            f"<member><AutoScalingGroupName>{escape(name)}</AutoScalingGroupName>"
            f"<Instances>{instances}</Instances></member>"
        )
    return (
        '<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/'
        '2011-01-01/">'
        f"<DescribeAutoScalingGroupsResult><AutoScalingGroups>{members}</AutoScalingGroups>"
        "</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>"
    )


def instances(state, params):
    items = "".join(
        f"<item><instanceId>{escape(i['id'])}</instanceId>"
        f"<privateIpAddress>{escape(i['address'])}</privateIpAddress>"
        f"<instanceState><code>{16 if i.get('running', True) else 48}</code>"
        f"<name>{'running' if i.get('running', True) else 'terminated'}</name>"
        "</instanceState></item>"
        for group in state["groups"].values()
        for i in group
    )
    return (
        '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        "<requestId>stub</requestId><reservationSet><item><reservationId>r-stub</reservationId>"
        f"<instancesSet>{items}</instancesSet></item></reservationSet></DescribeInstancesResponse>"
    )


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        params = parse_qs(body)
        action = params.get("Action", [""])[0]
        with open(STATE) as f:
            state = json.load(f)
        if state.get("fail"):
            code, text = (
                400,
                (
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    "<Message>Rate exceeded</Message></Error>"
                    "<RequestId>stub</RequestId></ErrorResponse>"
                ),
            )
        elif action == "DescribeAutoScalingGroups":
            code, text = 200, groups(state, params)
        elif action == "DescribeInstances":
            code, text = 200, instances(state, params)
        else:
            code, text = (
                400,
                f"<ErrorResponse><Error><Code>InvalidAction</Code><Message>{action}</Message>"
                "</Error></ErrorResponse>",
            )
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
