"""Every job that changes state, run twice (as a second worker, a retried job or a second clock would run it):
its effect happens once, in moto, in Redis and in Slack. Real redis-server, moto, the Slack stand-in."""

from __future__ import annotations

import json

from redis import Redis

from bot.change_requests import from_command
from bot.commands import parse
from demo.fake_account import HOME, FakeAccount, compliant
from demo.slack_standin import SlackStandIn
from tests.helpers.waiting import wait_until
from tests.remediation.test_waivers import work
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import URGENT, queue
from workers.remediation import approvals
from workers.remediation.backouts import sweep_due
from workers.slack import outbox
from workers.state import auditlog, keys

S = approvals.RequestStatus


def requested(conn: Redis, settings: Settings, text: str) -> str:
    """A request opened as the web process opens it, with its PREPARE job queued twice, then run."""
    req = from_command(parse(text), "U0ALICE", "C0SEC", settings)
    approvals.open_request(conn, req)  # queues PREPARE
    queue(conn, URGENT).enqueue(paths.PREPARE, req.id)  # ... and a second PREPARE for the same request
    work(conn, settings)
    return req.id


def events(conn: Redis, rid: str) -> list[str]:
    return [e["event"] for e in auditlog.newest(conn, 500) if e["request"] == rid]


def prompts(slack: SlackStandIn, rid: str) -> list[str]:
    return [c.params["text"] for c in slack.of("chat.postMessage")
            if "Approval needed" in c.params["text"] and rid in json.dumps(c.params.get("blocks"))]  # fmt: skip


def test_a_fix_prepared_twice_and_executed_twice_is_prompted_once_and_run_once(
    env: tuple[Redis, Settings, SlackStandIn],
) -> None:
    conn, settings, slack = env
    compliant([HOME])
    ct = FakeAccount().client("cloudtrail")
    ct.stop_logging(Name="management")
    rid = requested(conn, settings, "remediate cloudtrail.trail_logging management stopped for the audit")
    assert len(prompts(slack, rid)) == 1
    approvals.decide(conn, rid, "U0BOB", True, ["U0ALICE", "U0BOB"])
    approvals.enqueue_execute(conn, rid)
    approvals.enqueue_execute(conn, rid)  # a second click's job, or a retry
    work(conn, settings)
    assert approvals.load(conn, rid).status is S.DONE and ct.get_trail_status(Name="management")["IsLogging"]
    assert events(conn, rid).count("executing") == 1 and events(conn, rid).count("api_call") == 1
    posts = [c.params["text"] for c in slack.of("chat.postMessage")]
    assert len([t for t in posts if t.startswith(f"*cloudtrail.start_logging* `{rid}`: done")]) == 1  # the outcome
    assert len([t for t in posts if t.startswith("*Re-check*")]) == 1


def test_a_backout_re_enabled_twice_and_swept_twice_is_restored_once(env: tuple[Redis, Settings, SlackStandIn]) -> None:
    conn, settings, _ = env
    compliant([HOME])
    ct = FakeAccount().client("cloudtrail")
    rid = requested(conn, settings, "backout management 30 tuning data events")
    approvals.decide(conn, rid, "U0BOB", True, ["U0ALICE", "U0BOB"])
    approvals.enqueue_execute(conn, rid)
    work(conn, settings)
    assert approvals.load(conn, rid).status is S.ACTIVE
    assert ct.get_event_selectors(TrailName="management")["EventSelectors"][0]["IncludeManagementEvents"] is False
    conn.zadd(keys.REENABLE_DUE, {rid: 1.0})  # its deadline has passed
    sweep_due(settings, conn)
    sweep_due(settings, conn)  # a second clock's sweep
    queue(conn, URGENT).enqueue(paths.REENABLE, rid, "deadline")  # and a stray re-enable job besides
    work(conn, settings)
    wait_until(lambda: approvals.load(conn, rid).status is S.RESTORED, 10)
    assert ct.get_event_selectors(TrailName="management")["EventSelectors"][0]["IncludeManagementEvents"] is True
    assert events(conn, rid).count("reenabled") == 1
    assert conn.zscore(keys.REENABLE_DUE, rid) is None


def test_a_message_delivered_twice_is_posted_once(env: tuple[Redis, Settings, SlackStandIn]) -> None:
    conn, settings, slack = env
    compliant([HOME])
    outbox.send(conn, "twice-1", "C0ALERTS", {"text": "one message"})  # queues its DELIVER job
    queue(conn, URGENT).enqueue(paths.DELIVER, "twice-1")  # and a second worker's, or the sweep's
    work(conn, settings)
    outbox.deliver("twice-1")  # and once more, after it landed
    assert [c.params["text"] for c in slack.of("chat.postMessage")].count("one message") == 1
