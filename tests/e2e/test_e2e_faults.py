"""Promises that hold under faults, end to end: the Procfile's processes (web, worker, clock), a real
redis-server, a moto server and the Slack stand-in made to fail on demand.

- Slack down (5xx) from the moment a backout is approved: the backout still ends at its deadline, the
  selectors come back exactly, and every message arrives once Slack is back.
- Slack failing while a tamper alert is posted: the alert arrives once Slack is back, exactly once.
- A worker killed (SIGKILL to it and its work horse) at each step of an execution and a re-enable: no
  backout outlives its deadline by more than a minute, and no request stays in progress.
- A trail's selectors changed between request and approval: nothing is overwritten, and the thread says why.
- Approve clicked while the prompt's post is still in flight: the request executes exactly once.
- redis-server killed and restarted (append-only file kept) while a backout is active and the monitor runs:
  every process stays up and the backout ends within a minute of Redis's return.
- Hundreds of trails stopped at once while Slack rate-limits: every change recorded, rolled up, none lost.

Intervals are settings here (sweeps every second, a dead worker noticed after 6 s), never sleeps.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis as RedisClient

from demo.fake_account import ACCOUNT, BUCKET, HOME, FakeAccount, compliant, demo_account
from demo.servers import Moto, start_redis
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from tests.e2e.test_e2e_approvals import (
    ALERTS,
    MANAGEMENT,
    SECRET,
    answer_to,
    click,
    command,
    prompt_of,
    request_id_in,
    selectors,
    thread_text,
)
from tests.helpers.waiting import wait_until
from workers.remediation import approvals
from workers.state import alert_records, auditlog, keys

pytestmark = pytest.mark.e2e
S = approvals.RequestStatus
FAST = {
    "TRAIL_AUDIT_REGIONS": HOME, "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS, "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB",
    "TRAIL_AUDIT_SWEEP_SECONDS": "1", "TRAIL_AUDIT_WATCHDOG_STALE_SECONDS": "6", "TRAIL_AUDIT_OUTBOX_MAX_BACKOFF": "4",
    "TRAIL_AUDIT_RESTORE_LEASE_SECONDS": "10", "TRAIL_AUDIT_STUCK_AFTER_SECONDS": "10",
    "TRAIL_AUDIT_MONITOR_SECONDS": "3600",
}  # fmt: skip
DATA = {"ReadWriteType": "All", "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payments-data/"]}]}  # fmt: skip


@pytest.fixture
def faulty(aws: Moto, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A whole stack; `request.param` may carry extra settings (a failpoint, a monitor interval)."""
    demo_account([HOME])
    FakeAccount().client("cloudtrail").put_event_selectors(TrailName=MANAGEMENT, EventSelectors=[DATA])
    extra = dict(getattr(request, "param", None) or {})
    redis = start_redis()
    with SlackStandIn() as slack:
        stack = Stack(aws.url, redis.url, slack.api_url, SECRET, {**FAST, **extra})
        running = {"stack": stack, "slack": slack, "redis": redis, "conn": RedisClient.from_url(redis.url)}
        try:
            stack.start()
            yield running
        finally:
            stack.stop()
            running["redis"].stop()  # the one running now: a test may have restarted Redis on the same files
            redis.stop()


def backout(flow: dict[str, Any], minutes: float = 0.25) -> tuple[str, dict[str, Any]]:
    """A backout of the management trail's management events, requested by alice; its id and the selectors."""
    before = selectors(MANAGEMENT)
    rid = request_id_in(command(flow, f"backout management {minutes} tuning data events", "U0ALICE"))
    return rid, before


def approved(flow: dict[str, Any], rid: str) -> float:
    """Approve as bob once the prompt is out; returns when."""
    click(flow, "approve", rid, "U0BOB", prompt_of(flow["slack"], rid))
    return time.time()


def test_slack_down_from_approval_through_the_deadline(faulty: dict[str, Any]) -> None:
    slack, conn = faulty["slack"], faulty["conn"]
    rid, before = backout(faulty)
    prompt = prompt_of(slack, rid)
    slack.outage(600)  # Slack answers 500 to everything from the approval on, until it is ended below
    click(faulty, "approve", rid, "U0BOB", prompt)
    wait_until(lambda: approvals.load(conn, rid).status is S.ACTIVE, 60)
    assert selectors(MANAGEMENT)["EventSelectors"][0]["IncludeManagementEvents"] is False
    deadline = approvals.load(conn, rid).deadline or 0
    wait_until(lambda: approvals.load(conn, rid).status is S.RESTORED, deadline - time.time() + 60)
    assert selectors(MANAGEMENT) == before  # restored exactly, while Slack was still down
    assert slack.of("chat.update") == [] and len(slack.refused) > 0
    assert time.monotonic() < slack.down_until
    slack.outage(0)  # Slack is back, past the deadline: everything said meanwhile arrives now
    wait_until(lambda: "restored at its deadline" in json.dumps([c.params for c in slack.of("chat.update")]), 60)
    told = ("*Re-check*", "*backout.management_events_off*", f"backout `{rid}` ends at")  # every message arrives
    wait_until(lambda: all(text in thread_text(slack) for text in told), 60)
    assert conn.zcard(keys.OUTBOX_DEAD) == 0


def test_slack_failing_while_a_tamper_alert_is_posted(aws: Moto) -> None:
    compliant([HOME])
    redis = start_redis()
    with SlackStandIn() as slack:
        stack = Stack(aws.url, redis.url, slack.api_url, SECRET, {**FAST, "TRAIL_AUDIT_MONITOR_SECONDS": "5"})
        try:
            stack.start()
            conn = RedisClient.from_url(redis.url)
            wait_until(lambda: conn.get(keys.MONITOR_LAST), 30)  # the baseline
            slack.outage(20)
            FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
            wait_until(lambda: alert_records.open_alerts(conn), 30)  # recorded while Slack is down
            wait_until(lambda: [r for r in slack.refused if r.method == "chat.postMessage"], 30)
            posted = wait_until(
                lambda: [c for c in slack.of("chat.postMessage") if "UNAPPROVED" in c.params["text"]], 60
            )
            at = json.loads(conn.get(keys.MONITOR_LAST) or "{}")["at"]
            wait_until(lambda: json.loads(conn.get(keys.MONITOR_LAST) or "{}")["at"] > at + 5, 30)  # two more cycles
            assert (
                len([c for c in slack.of("chat.postMessage") if "UNAPPROVED" in c.params["text"]]) == len(posted) == 1
            )
        finally:
            stack.stop()
            redis.stop()


KILL_POINTS = ["execute:claimed", "execute:deadline-committed", "execute:calls-made", "execute:committed",
               "reenable:locked", "reenable:calls-made", "reenable:committed"]  # fmt: skip


@pytest.fixture(scope="module")
def killable(moto: Moto) -> Iterator[dict[str, Any]]:
    """One stack for the kill points: each test restarts only its worker, with that test's failpoint."""
    redis = start_redis()
    with SlackStandIn() as slack:
        stack = Stack(moto.url, redis.url, slack.api_url, SECRET, FAST)
        try:
            stack.start()
            yield {"stack": stack, "slack": slack, "conn": RedisClient.from_url(redis.url)}
        finally:
            stack.stop()
            redis.stop()


@pytest.mark.parametrize(
    "point", [pytest.param(p, marks=pytest.mark.xdist_group(f"kill-{p.split(':')[0]}")) for p in KILL_POINTS]
)
def test_a_worker_killed_at_each_step_never_leaves_a_backout_on(
    aws: Moto, killable: dict[str, Any], point: str, request: pytest.FixtureRequest
) -> None:
    demo_account([HOME])
    FakeAccount().client("cloudtrail").put_event_selectors(TrailName=MANAGEMENT, EventSelectors=[DATA])
    marks = tempfile.TemporaryDirectory(prefix="ta-failpoint-")
    request.addfinalizer(marks.cleanup)
    marker = os.path.join(marks.name, "hit")
    stack, conn = killable["stack"], killable["conn"]
    stack.env["TRAIL_AUDIT_FAILPOINT"] = f"{point}@{marker}"
    stack.restart("worker")  # this test's failpoint, in the worker only
    rid, before = backout(killable, minutes=0.1)
    approved(killable, rid)
    wait_until(lambda: os.path.exists(marker) and stack.procs["worker"].poll() is not None, 60)
    stack.procs.pop("worker")
    stack.start("worker")  # as a supervisor would; the killed job is found by the watchdog
    # within a minute of its deadline (6 s after approval), the request ends: restored, or (killed before
    # anything was turned off) re-checked; never left executing. How late exactly: bench/priority_bench.py
    wait_until(lambda: approvals.load(conn, rid).status in (S.RESTORED, S.RECHECKED), 6 + 60)
    assert selectors(MANAGEMENT) == before  # management events are back, exactly as they were


def test_a_change_between_request_and_approval_is_never_overwritten(faulty: dict[str, Any]) -> None:
    slack, conn = faulty["slack"], faulty["conn"]
    rid, _ = backout(faulty)
    prompt = prompt_of(slack, rid)
    changed = [{**DATA, "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::audit-data/"]}]}]
    FakeAccount().client("cloudtrail").put_event_selectors(TrailName=MANAGEMENT, EventSelectors=changed)
    now = selectors(MANAGEMENT)
    click(faulty, "approve", rid, "U0BOB", prompt)
    wait_until(lambda: approvals.load(conn, rid).status is S.STALE, 30)
    assert selectors(MANAGEMENT) == now  # nothing was changed
    told = wait_until(lambda: "was not run: the state changed" in thread_text(slack), 30)
    assert told and "audit-data" in thread_text(slack)
    assert "api_call" not in [e["event"] for e in auditlog.newest(conn, 50) if e["request"] == rid]


def test_approve_while_the_prompt_is_still_being_posted_executes_once(faulty: dict[str, Any]) -> None:
    slack, conn = faulty["slack"], faulty["conn"]
    slack.delay["chat.postMessage"] = 4.0  # Slack is slow to answer the prompt's post
    rid = request_id_in(command(faulty, "remediate cloudtrail.trail_logging app-audit stopped", "U0ALICE"))
    wait_until(lambda: approvals.load(conn, rid).status is S.PENDING, 30)
    # a click before trail-audit knows where its prompt landed cannot be bound to it: refused, nothing decided
    early = Call("chat.postMessage", {"channel": ALERTS, "_ts": "1.0"})
    assert "still being posted" in answer_to(slack, click(faulty, "approve", rid, "U0BOB", early, landed=False))
    prompt = prompt_of(slack, rid)
    slack.delay.clear()
    click(faulty, "approve", rid, "U0BOB", prompt)
    wait_until(lambda: approvals.load(conn, rid).status is S.DONE, 60)
    click(faulty, "approve", rid, "U0ALICE", prompt)
    wait_until(lambda: "already approved by <@U0BOB>" in json.dumps([c.params for c in slack.of("response_url")]), 30)
    events = [e["event"] for e in auditlog.newest(conn, 100) if e["request"] == rid]
    assert events.count("executing") == 1 and events.count("approved") == 1
    assert FakeAccount().client("cloudtrail").get_trail_status(Name="app-audit")["IsLogging"] is True


@pytest.mark.parametrize("faulty", [{"TRAIL_AUDIT_MONITOR_SECONDS": "5"}], indirect=True)
def test_processes_outlive_a_redis_restart_and_the_backout_still_ends(faulty: dict[str, Any]) -> None:
    stack: Stack = faulty["stack"]
    conn = faulty["conn"]
    rid, before = backout(faulty, minutes=0.3)
    approved(faulty, rid)
    wait_until(lambda: approvals.load(conn, rid).status is S.ACTIVE, 60)
    deadline = approvals.load(conn, rid).deadline or 0
    old = faulty["redis"]
    old.process.kill()  # killed, not stopped: no final save, the append-only file is what survives
    old.process.wait(10)
    time.sleep(max(0.0, deadline - time.time()) + 3)  # Redis is away when the deadline passes
    faulty["redis"] = start_redis(old.directory, old.port, owned=True)
    conn = RedisClient.from_url(faulty["redis"].url)
    wait_until(lambda: approvals.load(conn, rid).status is S.RESTORED, 60)  # within a minute of Redis's return
    assert selectors(MANAGEMENT) == before
    assert all(proc.poll() is None for proc in stack.procs.values())  # web, worker and clock are all still up
    last = json.loads(conn.get(keys.MONITOR_LAST) or "{}").get("at", 0)
    wait_until(lambda: json.loads(conn.get(keys.MONITOR_LAST) or "{}").get("at", 0) > last, 30)  # it watches on


def test_hundreds_of_trails_stopped_at_once_are_all_recorded_and_rolled_up(aws: Moto) -> None:
    compliant([HOME])
    ct = FakeAccount().client("cloudtrail")
    names = [f"team-{i:03d}" for i in range(200)]
    for name in names:
        ct.create_trail(Name=name, S3BucketName=BUCKET)
        ct.start_logging(Name=name)
    redis = start_redis()
    with SlackStandIn() as slack:
        slack.channel_rate = 1.0  # Slack's one message a second per channel, enforced with 429s
        stack = Stack(
            aws.url, redis.url, slack.api_url, SECRET, {**FAST, "TRAIL_AUDIT_MONITOR_SECONDS": "20"}
        )  # a cycle reads 200 trails
        try:
            stack.start()
            conn = RedisClient.from_url(redis.url)
            wait_until(lambda: conn.get(keys.MONITOR_LAST), 60)
            for name in names:
                ct.stop_logging(Name=name)
            wait_until(lambda: len(alert_records.open_alerts(conn, ACCOUNT, HOME)) == len(names), 90)
            wait_until(lambda: conn.zcard(keys.OUTBOX_DUE) == 0 and slack.of("chat.postMessage"), 60)
            posts = [c for c in slack.of("chat.postMessage") if c.params["channel"] == ALERTS]
            assert 1 <= len(posts) <= 3  # rolled up: one message per cycle that saw changes
            listed = json.dumps([c.params["blocks"] for c in posts])
            assert all(f"Trail {name} stopped logging" in listed for name in names)
            assert conn.zcard(keys.OUTBOX_DEAD) == 0
        finally:
            stack.stop()
            redis.stop()
