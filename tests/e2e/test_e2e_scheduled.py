"""Scheduled posture reports on real processes (web, worker, two clocks, a real redis-server, moto, the Slack
stand-in): a schedule every few seconds posts reports to the report channel, each fire time once however many
clocks run; a trail stopped between two reports makes the next lead with it as new, started again, resolved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis import Redis as RedisClient

from demo.fake_account import FakeAccount, compliant
from demo.servers import Moto, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.e2e
REPORTS = "C0REPORTS"
EVERY = 8


def reports(slack: SlackStandIn) -> list[str]:
    """The lead ("*Changes* ...") of each finished report in the report channel, in order."""
    leads = []
    for call in slack.of("chat.update"):
        if call.params.get("channel") != REPORTS:
            continue
        texts = [b.get("text", {}).get("text", "") for b in call.params.get("blocks") or [] if b["type"] == "section"]
        leads += [t for t in texts if t.startswith("*Changes*")]
    return leads


def test_reports_on_a_schedule_lead_with_what_changed_once_per_fire_time(aws: Moto) -> None:
    compliant(["us-east-1"])
    redis = start_redis()
    settings = {"TRAIL_AUDIT_REGIONS": "us-east-1", "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS",
                "TRAIL_AUDIT_REPORT_CHANNEL": REPORTS, "TRAIL_AUDIT_REPORT_SCHEDULE": f"@every {EVERY}s",
                "TRAIL_AUDIT_SWEEP_SECONDS": "1", "TRAIL_AUDIT_CLOCK_LEASE_SECONDS": "2",
                "TRAIL_AUDIT_MONITOR_SECONDS": "3600"}  # fmt: skip
    ct = FakeAccount().client("cloudtrail")
    with SlackStandIn() as slack:
        stack = Stack(aws.url, redis.url, slack.api_url, "scheduled-secret", settings)
        try:
            stack.start("worker", "clock", "clock#2")  # two clocks: one report per fire time
            first = wait_until(lambda: reports(slack), 60)[0]
            assert "First audit of this scope" in first or "No change since" in first
            ct.stop_logging(Name="management")
            stopped: Any = wait_until(lambda: [r for r in reports(slack) if "new `cloudtrail.trail_logging`" in r], 60)
            assert "new failing" in stopped[0] and "resolved" not in stopped[0].split("\n", 1)[1]
            ct.start_logging(Name="management")
            back = wait_until(lambda: [r for r in reports(slack) if "resolved `cloudtrail.trail_logging`" in r], 60)
            assert reports(slack).index(back[0]) > reports(slack).index(stopped[0])
            conn = RedisClient.from_url(redis.url)
            slots = len(list(conn.scan_iter("ta:report:slot:*")))
            posted = [c for c in slack.of("chat.postMessage") if c.params["channel"] == REPORTS
                      and "auditing" in c.params.get("text", "")]  # fmt: skip
            assert slots >= 3 and len(posted) in (slots, slots - 1)  # one per fire time (the last may be running)
            assert all(json.loads(conn.get(k) or b"0") == 1 for k in conn.scan_iter("ta:report:slot:*"))
        finally:
            stack.stop()
            redis.stop()
