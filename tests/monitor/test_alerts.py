"""Alerts in Redis and Slack: acknowledged once, re-posted once with the mention when nobody takes them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis as RedisClient

from demo.servers import start_redis
from demo.slack_standin import SlackStandIn
from workers.core.settings import Settings
from workers.monitor import alerts
from workers.remediation.approvals import Refused
from workers.slack import outbox
from workers.slack.messages.alert import alert
from workers.slack.messages.kit import MAX_SECTION
from workers.state import alert_records, outgoing


@pytest.fixture
def env() -> Iterator[tuple[RedisClient, Settings, SlackStandIn]]:
    redis = start_redis()
    with SlackStandIn() as slack:
        settings = Settings(_env_file=None, REDIS_URL=redis.url, SLACK_API_URL=slack.api_url,  # type: ignore[call-arg]
                            SLACK_BOT_TOKEN="xoxb-t", TRAIL_AUDIT_ALERT_CHANNEL="C0ALERTS",
                            TRAIL_AUDIT_ALERT_MENTION="<!here>", TRAIL_AUDIT_ALERT_REPOST_MINUTES=15)  # fmt: skip
        yield RedisClient.from_url(redis.url), settings, slack
    redis.stop()


def change(**extra: object) -> dict[str, object]:
    return {"account": "123456789012", "region": "us-east-1", "kind": "trail", "field": "logging",
            "resource": "arn:aws:cloudtrail:us-east-1:123456789012:trail/management", "before": True, "after": False,
            "snapshot": {}, "key": "k1", "title": "Trail management stopped logging", "restorable": True,
            "approved": None, **extra}  # fmt: skip


def test_an_unacknowledged_alert_is_reposted_once_with_the_mention(
    env: tuple[RedisClient, Settings, SlackStandIn],
) -> None:
    conn, settings, slack = env
    doc = alerts.raise_alert(conn, settings, change(created=time.time() - 20 * 60))
    outbox.flush(conn, settings)
    assert slack.of("chat.postMessage")[0].params["text"].startswith("<!here> :rotating_light: UNAPPROVED")
    assert alert_records.is_open(conn, "k1")
    assert alerts.repost_unacknowledged(conn, settings) == 1
    outbox.flush(conn, settings)
    assert "Still unacknowledged after 15 minutes" in slack.of("chat.postMessage")[-1].params["text"]
    assert slack.of("chat.postMessage")[-1].params["text"].startswith("<!here>")
    assert alerts.repost_unacknowledged(conn, settings) == 0
    alerts.acknowledge(conn, settings, doc["id"], "U0BOB")
    with pytest.raises(Refused, match="Already acknowledged by <@U0BOB>"):
        alerts.acknowledge(conn, settings, doc["id"], "U0CAROL")


def test_an_acknowledged_or_recent_alert_is_not_reposted(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, _ = env
    alerts.raise_alert(conn, settings, change(key="recent"))
    old = alerts.raise_alert(conn, settings, change(key="old", created=time.time() - 3600))
    alerts.acknowledge(conn, settings, old["id"], "U0BOB")
    assert alerts.repost_unacknowledged(conn, settings) == 0


def test_a_recovered_alert_is_closed_and_told_in_its_thread(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, slack = env
    doc = alerts.raise_alert(conn, settings, change())
    outbox.flush(conn, settings)
    alerts.recover(conn, settings, doc, "restored by `arn:aws:sts::1:assumed-role/x/bob`")
    outbox.flush(conn, settings)
    reply = slack.of("chat.postMessage")[-1]
    assert reply.params["thread_ts"] == outgoing.where(conn, alerts.group_id(doc)).ts  # type: ignore[union-attr]
    assert "Recovered" in reply.params["text"]
    assert not alert_records.is_open(conn, "k1") and alert_records.open_alerts(conn) == []
    final = slack.of("chat.update")[-1].params
    assert not [b for b in final["blocks"] if b["type"] == "actions"]  # no Restore/Acknowledge once recovered


def test_alert_message_within_limits_for_huge_values() -> None:
    who = {"actor": "a" * 500, "actor_type": "IAMUser", "time": "t", "source_ip": "1.2.3.4", "user_agent": "u" * 900,
           "name": "StopLogging", "parameters": {"p": "q" * 4000}}  # fmt: skip
    doc = change(id="a1", created=0.0, status="open", before={"x": "y" * 5000}, after=None, attribution=who)
    message = alert(doc)
    assert all(len(b["text"]["text"]) <= MAX_SECTION for b in message["blocks"] if b["type"] == "section")
    assert message["blocks"][0]["text"]["text"] == "UNAPPROVED change: Trail management stopped logging"


def test_status_shows_each_accounts_last_cycle(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:

    from workers.monitor.status import status_lines
    from workers.state import clock_lease, monitor_records

    conn, _, _ = env
    assert status_lines(conn) == ["Monitor: no cycle yet"]
    now = time.time()
    monitor_records.record_coverage(conn, {"at": now, "interval": 60, "accounts": 3})  # one never reached
    for account, calls in (("111111111111", 88), ("222222222222", 8)):
        summary = {"at": now, "seconds": 1.6, "account": account, "calls": calls, "regions": 17, "unreadable": []}
        monitor_records.record_cycle(conn, account, summary)
    lines = status_lines(conn)
    assert lines[0] == "Monitor: 2 of 3 accounts covered"
    assert "88 AWS calls, 17 regions of 111111111111" in lines[1] and "8 AWS calls" in lines[2]
    assert lines[-1] == "Open alerts: 0"
    for n in range(10):  # many accounts: only those not fully watched are listed
        summary = {"at": now, "seconds": 1, "account": f"9{n:011d}", "calls": 1, "regions": 1,
                   "unreadable": ["x"] if n == 4 else []}  # fmt: skip
        monitor_records.record_cycle(conn, summary["account"], summary)
    lines = status_lines(conn)
    assert lines[0] == "Monitor: 11 of 12 accounts covered" and len(lines) == 4 and "900000000004" in lines[1]
    assert lines[2] == ":warning: Clock: none running: no monitor cycle and no backout deadline until one starts"
    clock_lease.hold(conn, "host-a:4242:c0ffee", 30)
    assert status_lines(conn)[2] == "Clock: host-a:4242:c0ffee runs the schedule"


def test_an_approved_change_is_reposted_without_the_mention(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, slack = env
    approved = {"request": "r1", "action": "backout.recorder_off", "requester": "U0A", "approver": "U0B"}
    alerts.raise_alert(conn, settings, change(created=time.time() - 20 * 60, approved=approved))
    assert alerts.repost_unacknowledged(conn, settings) == 1
    outbox.flush(conn, settings)
    texts = [c.params["text"] for c in slack.of("chat.postMessage")]
    assert len(texts) == 2 and "Still unacknowledged" in texts[1]
    assert not any("<!here>" in text for text in texts)


def test_acknowledge_never_reopens_a_recovered_alert(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, _ = env
    doc = alerts.raise_alert(conn, settings, change())
    assert alerts.recover(conn, settings, doc, "restored")
    with pytest.raises(Refused, match="recovered"):
        alerts.acknowledge(conn, settings, doc["id"], "U0BOB")
    assert alert_records.load(conn, doc["id"])["status"] == "recovered" and not alert_records.is_open(conn, "k1")
