"""Pushed events: from a CloudTrail call on the SQS queue to its alert in the Slack stand-in.

The whole stack as the Procfile starts it, with the `events` process (long polls of 20 s), a real redis-server,
moto (SQS) and the Slack stand-in. Two measurements:

- one at a time: N events (default 200), each a StopLogging of a different trail by a different user, sent
  1.1 s apart (Slack takes one message a second per channel); the time from `SendMessage` to the stand-in
  receiving the alert that names that user; p50, p99 and max;
- a burst: 100 events sent at once; the time until one message lists all 100, and how many messages it took.

This is trail-audit's part of the path. AWS's part (a call to its event on the bus, then on the queue) has no
published figure beyond "near real time". Run: `.venv/bin/python bench/events_bench.py [events]`.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.monitor_bench import wait
from demo import bus
from demo.fake_account import FakeAccount
from demo.servers import aws_env, moto_server, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack

ALERTS = "C0ALERTS"


def message(user: str, trail: str) -> str:
    """The queue message EventBridge would deliver for `user` stopping `trail` (as AWS wraps it)."""
    return json.dumps(bus.envelope(bus.call("StopLogging", user, "203.0.113.66", {"name": trail})))


def shown(slack: SlackStandIn, text: str) -> bool:
    return any(text in json.dumps(c.params) for c in slack.calls if c.method in ("chat.postMessage", "chat.update"))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with moto_server() as moto, SlackStandIn() as slack:
        os.environ.update(aws_env(moto.url))
        fake = FakeAccount()
        sqs = fake.client("sqs")
        one = sqs.create_queue(QueueName="one-at-a-time")["QueueUrl"]
        redis = start_redis()
        settings = {"TRAIL_AUDIT_REGIONS": "us-east-1", "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS,
                    "TRAIL_AUDIT_MONITOR_SECONDS": "3600", "TRAIL_AUDIT_EVENTS_QUEUE_URL": one,
                    "TRAIL_AUDIT_EVENTS_BURST_SECONDS": "0"}  # fmt: skip
        stack = Stack(moto.url, redis.url, slack.api_url, "bench", settings).start()
        try:
            time.sleep(3)  # the processes settle
            latencies = []
            for i in range(count):
                user = f"user-{i:04d}"
                sent = time.monotonic()
                sqs.send_message(QueueUrl=one, MessageBody=message(user, f"trail-{i:04d}"))
                wait(lambda user=user: shown(slack, f"user/{user}"), 60, step=0.005)
                latencies.append(time.monotonic() - sent)
                time.sleep(max(0.0, 1.1 - (time.monotonic() - sent)))
        finally:
            stack.stop()
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)]
        print(f"One at a time, {count} events: p50 {statistics.median(latencies):.2f} s, p99 {p99:.2f} s, "
              f"max {latencies[-1]:.2f} s (queue to Slack).")  # fmt: skip

        burst_queue = sqs.create_queue(QueueName="burst")["QueueUrl"]
        slack.reset()
        burst = {**settings, "TRAIL_AUDIT_EVENTS_QUEUE_URL": burst_queue, "TRAIL_AUDIT_EVENTS_BURST_SECONDS": "60"}
        stack = Stack(moto.url, redis.url, slack.api_url, "bench", burst).start()
        try:
            time.sleep(3)
            sent = time.monotonic()
            for start in range(0, 100, 10):
                entries = [{"Id": str(i), "MessageBody": message(f"burst-{i:03d}", f"burst-trail-{i:03d}")}
                           for i in range(start, start + 10)]  # fmt: skip
                sqs.send_message_batch(QueueUrl=burst_queue, Entries=entries)
            wait(lambda: shown(slack, "100 changes"), 120, step=0.005)
            took = time.monotonic() - sent
            posts = [c for c in slack.calls if c.method == "chat.postMessage" and c.params.get("channel") == ALERTS]
            updates = [c for c in slack.calls if c.method == "chat.update"]
            print(f"A burst of 100 events: one message lists all 100 after {took:.2f} s "
                  f"({len(posts)} message posted, {len(updates)} updates of it).")  # fmt: skip
        finally:
            stack.stop()
            redis.stop()


if __name__ == "__main__":
    main()
