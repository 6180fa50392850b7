"""Two of every process: two complete stacks (web, worker, clock, events each) on one real redis-server, one
moto and one Slack stand-in, driven through the demo's flows. Every outcome happens once, counted in the Slack
stand-in, moto and the audit log; one stack's clock is killed mid-interval and the other's takes over."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from redis import Redis as RedisClient

from demo.fake_account import ACCOUNT, HOME, FakeAccount, demo_account
from demo.servers import Moto, start_redis
from demo.signing import post, slash_body
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from tests.e2e.test_e2e_approvals import SECRET as APPROVALS_SECRET
from tests.e2e.test_e2e_approvals import click, prompt_of, request_id_in
from tests.helpers.cloudtrail_records import pushed
from tests.helpers.waiting import wait_until
from workers.remediation import approvals
from workers.state import auditlog, clock_lease, keys, monitor_records
from workers.state.waivers import in_force

pytestmark = pytest.mark.e2e
SECRET = APPROVALS_SECRET  # the one `click` signs with
ALERTS = "C0ALERTS"
INTERVAL = 5
MANAGEMENT = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"
S = approvals.RequestStatus


@pytest.fixture
def two(aws: Moto) -> Iterator[dict[str, Any]]:
    demo_account([HOME])
    sqs = boto3.client("sqs", region_name=HOME)
    url = sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    redis = start_redis()
    settings = {"TRAIL_AUDIT_REGIONS": HOME, "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS, "TRAIL_AUDIT_SWEEP_SECONDS": "1",
                "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB", "TRAIL_AUDIT_WATCHDOG_STALE_SECONDS": "6",
                "TRAIL_AUDIT_MONITOR_SECONDS": str(INTERVAL), "TRAIL_AUDIT_CLOCK_LEASE_SECONDS": "2",
                "TRAIL_AUDIT_EVENTS_QUEUE_URL": url, "TRAIL_AUDIT_EVENTS_WAIT_SECONDS": "1",
                "TRAIL_AUDIT_EVENTS_BURST_SECONDS": "0", "TRAIL_AUDIT_USER_REQUESTS_PER_MINUTE": "100"}  # fmt: skip
    with SlackStandIn() as slack:
        stacks = [Stack(aws.url, redis.url, slack.api_url, SECRET, settings) for _ in range(2)]
        try:
            for stack in stacks:
                stack.start()
            yield {"a": stacks[0], "b": stacks[1], "slack": slack, "conn": RedisClient.from_url(redis.url),
                   "queue": url}  # fmt: skip
        finally:
            for stack in stacks:
                stack.stop()
            redis.stop()


def command(stack: Stack, text: str, user: str, slack: SlackStandIn) -> dict[str, Any]:
    body = slash_body(text, user=user, response_url=slack.response_url(f"{user}-{time.monotonic_ns()}"))
    status, answer = post(stack.url + "/slack/events", body, SECRET)
    assert status == 200
    return dict(json.loads(answer))


def approve(two: dict[str, Any], via: str, rid: str) -> None:
    """Bob approves `rid`'s prompt through stack `via`'s web process."""
    flow = {"stack": two[via], "slack": two["slack"]}
    click(flow, "approve", rid, "U0BOB", prompt_of(two["slack"], rid))


def alert_posts(slack: SlackStandIn, text: str) -> list[Call]:
    return [c for c in slack.of("chat.postMessage")
            if c.params["channel"] == ALERTS and not c.params.get("thread_ts")
            and text in json.dumps(c.params)]  # fmt: skip


def events_of(conn: RedisClient, rid: str) -> list[str]:
    return [e["event"] for e in auditlog.newest(conn, 500) if e["request"] == rid]


def test_two_of_everything_do_each_thing_once_and_a_clock_takes_over(two: dict[str, Any]) -> None:
    a, b, slack, conn = two["a"], two["b"], two["slack"], two["conn"]
    wait_until(lambda: conn.get(keys.MONITOR_LAST), 60)  # the baseline
    ct = FakeAccount().client("cloudtrail")

    command(a, "audit", "U0ALICE", slack)  # an audit: one progress message, one report
    wait_until(lambda: [c for c in slack.of("chat.update") if "app-audit" in json.dumps(c.params.get("blocks"))], 60)
    assert len([c for c in slack.of("chat.postMessage") if "auditing" in c.params.get("text", "")]) == 1

    fix = request_id_in(command(b, "remediate cloudtrail.trail_logging app-audit stopped", "U0ALICE", slack))
    approve(two, "a", fix)  # asked through one web, approved through the other
    wait_until(lambda: approvals.load(conn, fix).status is S.DONE, 60)
    assert ct.get_trail_status(Name="app-audit")["IsLogging"] is True
    assert events_of(conn, fix).count("executing") == 1

    backout = request_id_in(command(a, "backout management 0.2 tuning data events", "U0ALICE", slack))
    approve(two, "b", backout)
    wait_until(lambda: approvals.load(conn, backout).status is S.ACTIVE, 60)
    deadline = approvals.load(conn, backout).deadline or 0
    wait_until(lambda: approvals.load(conn, backout).status is S.RESTORED, deadline - time.time() + 60)
    assert ct.get_event_selectors(TrailName=MANAGEMENT)["EventSelectors"][0]["IncludeManagementEvents"] is True
    assert events_of(conn, backout).count("executing") == 1 and events_of(conn, backout).count("reenabled") == 1

    waiver = request_id_in(command(b, "waive cloudtrail.trail_log_file_validation app-audit 7 replaced next week",
                                   "U0ALICE", slack))  # fmt: skip
    approve(two, "a", waiver)
    wait_until(lambda: approvals.load(conn, waiver).status is S.ACTIVE, 60)
    assert len(in_force(conn)) == 1 and events_of(conn, waiver).count("executing") == 1

    ct.stop_logging(Name="management")  # pushed (to both events consumers' queue, twice) and polled
    stop = pushed("StopLogging", actor="mallory", ip="203.0.113.66")
    for _ in range(2):
        boto3.client("sqs", region_name=HOME).send_message(QueueUrl=two["queue"], MessageBody=stop)
    wait_until(lambda: alert_posts(slack, "stopped logging"), 60)

    holder = clock_lease.holder(conn) or ""  # "host:pid:nonce"; the Procfile's command runs as `exec`: its pid
    running = next(s for s in (a, b) if holder.split(":")[1] == str(s.procs["clock"].pid))
    running.kill("clock")  # mid-interval: the other clock takes the schedule over
    killed = time.time()
    ct.update_trail(Name="management", EnableLogFileValidation=False)  # only the poller sees this one
    wait_until(lambda: alert_posts(slack, "had log file validation turned off"), 90)
    wait_until(lambda: len([t for t in monitor_records.cycle_starts(conn) if t > killed]) >= 3, 60)
    assert clock_lease.holder(conn) not in (None, holder)

    assert len(alert_posts(slack, "stopped logging")) == 1  # one change, one alert, however many saw it
    assert len(alert_posts(slack, "had log file validation turned off")) == 1
    starts = monitor_records.cycle_starts(conn)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) > INTERVAL * 0.75, starts  # two clocks, one schedule: never two cycles in one interval
    assert conn.zcard(keys.OUTBOX_DEAD) == 0

