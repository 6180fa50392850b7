"""Pushed CloudTrail calls (EventBridge through SQS) read and recorded, on a real Redis: one alert per change,
whichever path sees it first; redeliveries change nothing; stop then restart is alerted, then closed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from tests.helpers.cloudtrail_records import ACCOUNT, pushed
from workers.aws.event_history import ChangeEvent
from workers.core.settings import Settings
from workers.monitor import alerts
from workers.monitor import pushed as reading
from workers.monitor.pushed_alerts import record
from workers.resources.watched import Change
from workers.state import alert_records, keys, metrics

REGION = "us-east-1"
ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/management"


@pytest.fixture
def conn(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRAIL_AUDIT_ALERT_CHANNEL", "C0ALERTS")
    return Settings(_env_file=None)  # type: ignore[call-arg]


def known(conn: Redis, *names: str) -> None:
    """The region's last known state as the poller keeps it: trails logging."""
    good = {"logging": True, "multi_region": True, "management": True, "validation": True, "bucket": "b",
            "selectors": {"EventSelectors": [], "AdvancedEventSelectors": []}}  # fmt: skip
    trails = {f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{n}": good | {"config": {"Name": n}} for n in names}
    conn.set(keys.region_state(ACCOUNT, REGION), json.dumps({"at": 0, "since": 0, "state": {
        "trails": trails, "recorders": {}, "channels": {}}}))  # fmt: skip


def event(body: str) -> ChangeEvent:
    found = reading.parse(body)
    assert isinstance(found, ChangeEvent), found
    return found


def test_a_pushed_call_is_read_with_who_from_where_and_which_account() -> None:
    e = event(pushed("StopLogging", actor="mallory", ip="203.0.113.66"))
    assert e.name == "StopLogging" and e.actor.endswith("/mallory") and e.source_ip == "203.0.113.66"
    assert e.account == ACCOUNT and e.region == REGION and e.event_id and not e.failed
    assert event(pushed("StopLogging", error="AccessDenied")).failed


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (
            json.dumps({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {}}),
            "not a CloudTrail",
        ),
        (pushed("StopLogging").replace('"source": "aws.cloudtrail"', '"source": "aws.config"'), "disagree"),
        (pushed("StopLogging").replace('"eventName": "StopLogging"', '"eventName": "DescribeTrails"'), "not a watched"),
        (
            pushed("StopLogging").replace(f'"recipientAccountId": "{ACCOUNT}"', '"recipientAccountId": "x"'),
            "recipientAccountId",
        ),
    ],
)
def test_anything_else_is_unreadable_and_says_why(body: str, why: str) -> None:
    found = reading.parse(body)
    assert isinstance(found, reading.Unreadable) and why in found.reason


def test_a_pushed_stop_is_the_alert_the_poller_would_raise_and_only_once(conn: Redis, settings: Settings) -> None:
    known(conn, "management")
    stop = event(pushed("StopLogging", actor="mallory"))
    assert record(conn, settings, [stop]) == 1
    assert record(conn, settings, [stop]) == 0  # redelivered: nothing new
    [doc] = alert_records.open_alerts(conn)
    poller_key = Change(ACCOUNT, REGION, "trail", ARN, "logging", True, False, {}).key
    assert doc["key"] == poller_key and alert_records.is_open(conn, poller_key)  # so the poller raises nothing more
    assert doc["before"] is True and doc["after"] is False and doc["attribution"]["actor"].endswith("/mallory")
    assert doc["restore"]["plan"]["calls"][0]["operation"] == "StartLogging"
    assert conn.zcard(keys.OUTBOX_DUE) == 1  # its message, committed with it
    assert metrics.totals(conn, "alerts_raised") == [({"seen_by": "push"}, 1.0)]  # counted in the same commit


def test_a_stop_of_a_trail_the_last_poll_read_as_stopped_is_still_the_restorable_state_alert(
    conn: Redis, settings: Settings
) -> None:
    known(conn, "management")  # the poll read it before a fix started it again, or could not read its status
    state = json.loads(conn.get(keys.region_state(ACCOUNT, REGION)) or "{}")
    state["state"]["trails"][ARN]["logging"] = False
    conn.set(keys.region_state(ACCOUNT, REGION), json.dumps(state))
    assert record(conn, settings, [event(pushed("StopLogging", actor="mallory"))]) == 1
    [doc] = alert_records.open_alerts(conn)
    assert doc["field"] == "logging" and doc["before"] is True and doc["restore"]["plan"]["calls"]


def test_stop_then_restart_is_alerted_then_closed(conn: Redis, settings: Settings) -> None:
    known(conn, "management")
    now = dt.datetime.now(dt.UTC)
    record(conn, settings, [event(pushed("StopLogging", now))])
    record(conn, settings, [event(pushed("StartLogging", now + dt.timedelta(seconds=20)))])
    [doc] = alert_records.recent(conn, ACCOUNT, REGION)
    assert doc["status"] == "recovered" and "restored by" in doc["recovered_by"] and not alert_records.open_alerts(conn)


def test_a_call_the_poller_alerted_first_only_names_who(conn: Redis, settings: Settings) -> None:
    known(conn, "management")
    change = Change(ACCOUNT, REGION, "trail", ARN, "logging", True, False, {})
    first = alerts.new(
        settings, change.to_dict() | {"key": change.key, "title": change.sentence(), "restorable": False}
    )
    pipe = conn.pipeline(transaction=True)
    alerts.stage_group(pipe, settings, [first])
    pipe.execute()
    assert record(conn, settings, [event(pushed("StopLogging", actor="mallory"))]) == 0
    [doc] = alert_records.open_alerts(conn)
    assert doc["id"] == first["id"] and doc["attribution"]["actor"].endswith("/mallory")


def test_failed_attempts_and_unknown_resources_are_event_alerts(conn: Redis, settings: Settings) -> None:
    known(conn)
    raised = record(conn, settings, [event(pushed("StopLogging", error="AccessDenied", actor="eve")),
                                     event(pushed("DeleteTrail", params={"name": "elsewhere"}))])  # fmt: skip
    fields = sorted(d["field"] for d in alert_records.recent(conn, ACCOUNT, REGION))
    assert raised == 2 and fields == ["attempt", "event"]


def test_a_burst_shares_one_message(conn: Redis, settings: Settings) -> None:
    names = [f"app-{i:03d}" for i in range(100)]
    known(conn, *names)
    now = dt.datetime.now(dt.UTC)
    batches = [names[i : i + 10] for i in range(0, 100, 10)]  # as SQS hands them over: ten at a time
    for batch in batches:
        record(conn, settings, [event(pushed("StopLogging", now, actor=n, params={"name": n})) for n in batch])
    docs = alert_records.recent(conn, ACCOUNT, REGION)
    assert len(docs) == 100 and len({d["group"] for d in docs}) == 1
    messages = [m for m in conn.zrange(keys.OUTBOX_DUE, 0, -1)]
    assert len(messages) == 1  # one message, redrawn as the burst grew
    body: dict[str, Any] = json.loads(conn.hget(keys.message(messages[0].decode()), "body") or "{}")
    assert "100 changes" in json.dumps(body)


def test_a_change_no_event_announced_says_once_that_the_path_is_broken_then_healed(
    conn: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.monitor import notices

    monkeypatch.setenv("TRAIL_AUDIT_ALERT_CHANNEL", "C0ALERTS")
    monkeypatch.setenv("TRAIL_AUDIT_EVENTS_QUEUE_URL", "http://localhost/123456789012/events")
    monkeypatch.setenv("TRAIL_AUDIT_EVENTS_GRACE_SECONDS", "60")
    on = Settings(_env_file=None)  # type: ignore[call-arg]
    known(conn, "management")
    change = Change(ACCOUNT, REGION, "trail", ARN, "logging", True, False, {})
    polled = alerts.new(on, change.to_dict() | {"key": change.key, "title": change.sentence(), "restorable": False,
                                                "seen_by": "poll", "created": 1.0})  # long ago  # fmt: skip
    pipe = conn.pipeline(transaction=True)
    alerts.stage_group(pipe, on, [polled])
    pipe.execute()
    flag = keys.monitor_blind(notices.event_path(ACCOUNT, REGION))
    notices.silent_paths(conn, on, alert_records.open_alerts(conn, ACCOUNT))
    notices.silent_paths(conn, on, alert_records.open_alerts(conn, ACCOUNT))
    assert conn.exists(flag)
    said = [m.decode() for m in conn.zrange(keys.OUTBOX_DUE, 0, -1) if m.decode().startswith("events-broken")]
    assert len(said) == 1  # once
    record(conn, on, [event(pushed("CreateTrail", params={"name": "other"}))])  # any event from there
    assert not conn.exists(flag)
    assert [m for m in conn.zrange(keys.OUTBOX_DUE, 0, -1) if m.decode().startswith("events-healed")]


@pytest.mark.parametrize(
    ("off", "on", "field"),
    [
        (("PutEventSelectors", {"trailName": "management", "eventSelectors": [
            {"readWriteType": "All", "includeManagementEvents": False}]}),
         ("PutEventSelectors", {"trailName": "management", "eventSelectors": [
             {"readWriteType": "All", "includeManagementEvents": True}]}), "management"),
        (("UpdateTrail", {"name": "management", "enableLogFileValidation": False}),
         ("UpdateTrail", {"name": "management", "enableLogFileValidation": True}), "validation"),
    ],
)  # fmt: skip
def test_the_known_evasions_pushed_carry_before_after_and_restore_and_are_told_recovered(
    conn: Redis, settings: Settings, off: tuple[str, dict[str, Any]], on: tuple[str, dict[str, Any]], field: str
) -> None:
    """Issue 20: a pushed PutEventSelectors that turns management events off, or an UpdateTrail that turns
    validation off, was an event alert ("not seen undone yet") with no Restore, though the poller knew the
    state; putting it back never closed it."""
    known(conn, "management")
    assert record(conn, settings, [event(pushed(off[0], actor="mallory", params=off[1]))]) == 1
    [doc] = alert_records.open_alerts(conn)
    assert (doc["field"], doc["before"], doc["after"], doc["restorable"]) == (field, True, False, True)
    assert doc["key"] == Change(ACCOUNT, REGION, "trail", ARN, field, True, False, {}).key  # the poller's key
    assert doc["restore"]["plan"]["calls"] and doc["attribution"]["actor"].endswith("/mallory")
    assert record(conn, settings, [event(pushed(on[0], actor="alice", params=on[1]))]) == 0
    assert alert_records.open_alerts(conn) == []
