"""Every process on Redis as production runs it: TLS with a CA file and an ACL user; then a primary, two replicas
and Sentinel, the primary killed while a backout is in force and a tamper is being alerted."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from redis.sentinel import MasterNotFoundError

from demo.fake_account import ACCOUNT, HOME, FakeAccount, demo_account
from demo.redis_servers import ACL_PASSWORD, ACL_USER, Servers
from demo.servers import Moto
from demo.signing import post, slash_body
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from tests.e2e.test_e2e_approvals import SECRET, click, prompt_of, request_id_in
from tests.helpers.cloudtrail_records import pushed
from tests.helpers.waiting import wait_until
from workers.remediation import approvals
from workers.state import auditlog, keys

pytestmark = pytest.mark.e2e
ALERTS = "C0ALERTS"
MASTER = "trail-audit"
MANAGEMENT = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"
S = approvals.RequestStatus
SETTINGS = {"TRAIL_AUDIT_REGIONS": HOME, "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS, "TRAIL_AUDIT_SWEEP_SECONDS": "1",
            "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB", "TRAIL_AUDIT_WATCHDOG_STALE_SECONDS": "6",
            "TRAIL_AUDIT_MONITOR_SECONDS": "5", "TRAIL_AUDIT_CLOCK_LEASE_SECONDS": "2",
            "TRAIL_AUDIT_OUTBOX_MAX_BACKOFF": "2"}  # fmt: skip


def command(stack: Stack, slack: SlackStandIn, text: str, user: str = "U0ALICE") -> dict[str, Any]:
    body = slash_body(text, user=user, response_url=slack.response_url(f"{user}-{time.monotonic_ns()}"))
    status, answer = post(stack.url + "/slack/events", body, SECRET)
    assert status == 200
    return dict(json.loads(answer))


def alert_posts(slack: SlackStandIn, text: str) -> list[Call]:
    return [c for c in slack.of("chat.postMessage") if c.params["channel"] == ALERTS
            and not c.params.get("thread_ts") and text in json.dumps(c.params)]  # fmt: skip


def primary_port(conn: Any) -> int | None:
    """The port Sentinel names as the primary now (None while it names none)."""
    try:
        return int(conn.connection_pool.get_master_address()[1])
    except MasterNotFoundError:
        return None


def test_every_process_on_tls_with_an_acl_user(aws: Moto, servers: Servers) -> None:
    demo_account([HOME])
    port, ca = servers.tls()
    queue = boto3.client("sqs", region_name=HOME).create_queue(QueueName="events")["QueueUrl"]
    env = {**SETTINGS, "REDIS_TLS_CA_FILE": str(ca), "TRAIL_AUDIT_EVENTS_QUEUE_URL": queue,
           "TRAIL_AUDIT_EVENTS_WAIT_SECONDS": "1", "TRAIL_AUDIT_EVENTS_BURST_SECONDS": "0"}  # fmt: skip
    with SlackStandIn() as slack:
        stack = Stack(aws.url, f"rediss://{ACL_USER}:{ACL_PASSWORD}@localhost:{port}/0", slack.api_url, SECRET, env)
        try:
            stack.start()
            assert set(stack.procs) == {"web", "worker", "clock", "events"}
            conn = stack.redis()
            wait_until(lambda: conn.get(keys.MONITOR_LAST), 60)  # clock and worker: a monitor cycle over TLS
            command(stack, slack, "audit")  # web and worker: the report
            wait_until(lambda: [c for c in slack.of("chat.update") if "app-audit" in json.dumps(c.params)], 60)
            FakeAccount().client("cloudtrail").stop_logging(Name="management")
            boto3.client("sqs", region_name=HOME).send_message(
                QueueUrl=queue, MessageBody=pushed("StopLogging", actor="mallory", ip="203.0.113.66")
            )  # the events consumer: the pushed alert, with who
            wait_until(lambda: [c for c in alert_posts(slack, "stopped logging") if "mallory" in json.dumps(c.params)],
                       60)  # fmt: skip
            assert conn.acl_whoami() == ACL_USER
            assert all(p.poll() is None for p in stack.procs.values())
        finally:
            stack.stop()


def test_a_failover_while_a_backout_is_in_force_and_a_tamper_is_alerted(aws: Moto, servers: Servers) -> None:
    demo_account([HOME])
    primary = servers.plain()
    replicas = [servers.replica_of(primary) for _ in range(2)]
    sentinel = servers.sentinel(MASTER, primary)
    env = {**SETTINGS, "REDIS_SENTINELS": f"127.0.0.1:{sentinel}", "REDIS_SENTINEL_MASTER": MASTER,
           "REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_MS": "1000"}  # fmt: skip
    ct = FakeAccount().client("cloudtrail")
    with SlackStandIn() as slack:
        stack = Stack(aws.url, "redis://found-through-sentinel/0", slack.api_url, SECRET, env)
        try:
            stack.start()
            conn = stack.redis()
            wait_until(lambda: conn.get(keys.MONITOR_LAST), 60)
            rid = request_id_in(command(stack, slack, "backout management 0.4 tuning data events"))
            click({"stack": stack, "slack": slack}, "approve", rid, "U0BOB", prompt_of(slack, rid))
            wait_until(lambda: approvals.load(conn, rid).status is S.ACTIVE, 60)
            assert ct.get_event_selectors(TrailName=MANAGEMENT)["EventSelectors"][0]["IncludeManagementEvents"] is False
            deadline = approvals.load(conn, rid).deadline or 0
            servers.kill(primary)  # the primary's host is lost; Sentinel promotes a replica
            ct.update_trail(Name="management", EnableLogFileValidation=False)  # a tamper, seen during the failover
            wait_until(lambda: primary_port(conn) in replicas, 60)
            wait_until(lambda: approvals.load(conn, rid).status is S.RESTORED, max(0, deadline - time.time()) + 90)
            assert ct.get_event_selectors(TrailName=MANAGEMENT)["EventSelectors"][0]["IncludeManagementEvents"] is True
            wait_until(lambda: alert_posts(slack, "had log file validation turned off"), 90)
            events = [e["event"] for e in auditlog.newest(conn, 200) if e["request"] == rid]
            assert events.count("executing") == 1 and events.count("reenabled") == 1
            at = json.loads(conn.get(keys.MONITOR_LAST) or "{}")["at"]
            wait_until(lambda: json.loads(conn.get(keys.MONITOR_LAST) or "{}")["at"] > at + 5, 60)  # two more cycles
            assert len(alert_posts(slack, "had log file validation turned off")) == 1  # not lost, not doubled
            assert all(p.poll() is None for p in stack.procs.values())  # every process followed the failover
        finally:
            stack.stop()
