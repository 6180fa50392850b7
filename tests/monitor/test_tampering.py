"""Tampers that the state alone cannot show: a trail stopped and restarted between two polls is alerted
from its CloudTrail events (realistic records through botocore's Stubber: moto has no LookupEvents), once
per event id; each change is recorded with the state before any message; a flood is rolled up."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from redis import Redis as RedisClient

from demo.fake_account import ACCOUNT, BUCKET, HOME, FakeAccount, compliant
from demo.servers import Moto, start_redis
from demo.slack_standin import SlackStandIn
from tests.helpers.cloudtrail_records import record
from workers.aws.accounts import Account, default_account
from workers.aws.event_history import LOOKUP_ATTEMPTS, ChangeEvent, parse_event
from workers.core.settings import Settings
from workers.monitor import tampering, watch
from workers.slack import outbox
from workers.state import alert_records, keys
from workers.state.rate_limit import RedisLimiter

MANAGEMENT = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"


@pytest.fixture
def env(aws: Moto, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RedisClient, Settings, SlackStandIn, Account]]:
    compliant([HOME])
    redis = start_redis()
    with SlackStandIn() as slack:
        for key, value in {"REDIS_URL": redis.url, "SLACK_API_URL": slack.api_url, "SLACK_BOT_TOKEN": "xoxb-t",
                           "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS", "TRAIL_AUDIT_REGIONS": HOME,
                           "TRAIL_AUDIT_ALERT_MENTION": "<!here>",
                           "TRAIL_AUDIT_LOOKUP_CYCLES": "1"}.items():  # every cycle reads the history  # fmt: skip
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        acct = default_account(settings)
        assert isinstance(acct, Account)
        yield RedisClient.from_url(redis.url), settings, slack, acct
    redis.stop()


def stubbed_lookups(monkeypatch: pytest.MonkeyPatch, acct: Account, pages: list[list[dict[str, Any]]]) -> Stubber:
    """The account's LookupEvents client answers `pages` (one per cycle), as CloudTrail would."""
    client = boto3.client("cloudtrail", region_name=HOME)
    stub = Stubber(client)
    for items in pages:
        stub.add_response("lookup_events", {"Events": items},
                          {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
                           "StartTime": ANY, "EndTime": ANY, "MaxResults": 50})  # fmt: skip
    stub.activate()
    real = acct.client

    def client_for(service: str, region: str, max_attempts: int | None = None) -> Any:
        return client if service == "cloudtrail" and max_attempts == LOOKUP_ATTEMPTS else real(service, region)

    monkeypatch.setattr(acct, "client", client_for)
    return stub


def cycle(conn: RedisClient, settings: Settings, acct: Account) -> int:
    return watch._watch_region(conn, settings, acct, HOME, RedisLimiter(conn, rate=1000))[0]


def test_stop_and_restart_between_two_polls_is_one_alert_naming_both(
    env: tuple[RedisClient, Settings, SlackStandIn, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, settings, slack, acct = env
    assert cycle(conn, settings, acct) == 0  # the baseline, taken a minute ago
    state = json.loads(conn.get(keys.region_state(ACCOUNT, HOME)) or "{}")
    conn.set(keys.region_state(ACCOUNT, HOME), json.dumps(state | {"at": state["at"] - 60, "since": state["at"] - 60}))
    now = dt.datetime.now(dt.UTC)
    stop = record("StopLogging", now - dt.timedelta(seconds=20), actor="mallory", ip="203.0.113.9")
    start = record("StartLogging", now - dt.timedelta(seconds=5), actor="mallory", ip="203.0.113.9")
    stub = stubbed_lookups(monkeypatch, acct, [[start, stop], [start, stop]])
    assert cycle(conn, settings, acct) == 1  # the state looks unchanged: the events tell
    assert cycle(conn, settings, acct) == 0  # the same events next cycle: no second alert
    stub.assert_no_pending_responses()
    outbox.flush(conn, settings)
    posts = slack.of("chat.postMessage")
    assert len(posts) == 1
    text = str(posts[0].params["blocks"])
    assert "StopLogging on management by arn:aws:sts::123456789012:assumed-role/PlatformAdmin/mallory" in text
    assert "undone by StartLogging" in text and "203.0.113.9" in text
    assert posts[0].params["text"].startswith("<!here> :rotating_light: UNAPPROVED")


def test_a_change_is_recorded_with_the_state_before_any_message(
    env: tuple[RedisClient, Settings, SlackStandIn, Account],
) -> None:
    conn, settings, slack, acct = env
    cycle(conn, settings, acct)
    FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
    slack.scripted["chat.postMessage"] = [{"status": 500}] * 3
    assert cycle(conn, settings, acct) == 1
    assert alert_records.is_open(conn, f"{ACCOUNT}|{HOME}|trail|{MANAGEMENT}|logging")
    for _ in range(3):  # Slack answers 500: the message waits in the outbox, the alert is not lost
        assert outbox.flush(conn, settings) == 0
        conn.zadd(keys.OUTBOX_DUE, {m: 0 for m in conn.zrange(keys.OUTBOX_DUE, 0, -1)})  # its backoff, elapsed
    assert len(slack.refused) == 3 and slack.of("chat.postMessage") == []
    assert cycle(conn, settings, acct) == 0  # the change is known: never alerted twice
    assert outbox.flush(conn, settings) == 1
    posts = slack.of("chat.postMessage")
    assert len(posts) == 1 and "Trail management stopped logging" in posts[0].params["text"]
    assert conn.zcard(keys.OUTBOX_DUE) == 0


def test_many_changes_in_one_cycle_are_one_message_listing_them(
    env: tuple[RedisClient, Settings, SlackStandIn, Account],
) -> None:
    conn, settings, slack, acct = env
    ct = FakeAccount().client("cloudtrail")
    names = [f"team-{i:02d}" for i in range(60)]
    for name in names:
        ct.create_trail(Name=name, S3BucketName=BUCKET)
        ct.start_logging(Name=name)
    cycle(conn, settings, acct)
    for name in names:
        ct.stop_logging(Name=name)
    assert cycle(conn, settings, acct) == 60
    outbox.flush(conn, settings)
    posts = slack.of("chat.postMessage")
    assert len(posts) == 1
    message = posts[0].params
    assert len(message["blocks"]) <= 50 and "60 changes" in message["text"]
    listed = str(message["blocks"])
    assert all(f"Trail {name} stopped logging" in listed for name in names)
    assert len(alert_records.open_alerts(conn, ACCOUNT, HOME)) == 60
    restore_buttons = [b for b in message["blocks"] if b.get("accessory", {}).get("action_id") == "restore"]
    assert len(restore_buttons) == 40 and "restore_all" in listed


def test_a_pushed_call_alerted_before_its_state_was_known_becomes_the_state_alert_in_the_same_message(
    env: tuple[RedisClient, Settings, SlackStandIn, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.cloudtrail_records import pushed
    from workers.monitor.pushed import parse
    from workers.monitor.pushed_alerts import record as record_pushed

    conn, settings, slack, acct = env
    cycle(conn, settings, acct)
    known = json.loads(conn.get(keys.region_state(ACCOUNT, HOME)) or "{}")
    conn.set(keys.region_state(ACCOUNT, HOME), json.dumps(known | {"state": {}}))  # not read yet, as in a race
    FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
    stop = parse(pushed("StopLogging", actor="mallory", region=HOME))
    assert isinstance(stop, ChangeEvent) and record_pushed(conn, settings, [stop]) == 1
    [announced] = [d for d in alert_records.recent(conn, ACCOUNT, HOME) if d["field"] == "event"]
    outbox.flush(conn, settings)
    assert "restore" not in str(slack.of("chat.postMessage")[0].params["blocks"])
    conn.set(keys.region_state(ACCOUNT, HOME), json.dumps(known))
    stubbed_lookups(monkeypatch, acct, [[], []])
    assert cycle(conn, settings, acct) == 0  # no new message: the event's alert is now the state alert
    [doc] = alert_records.open_alerts(conn, ACCOUNT, HOME)
    assert doc["field"] == "logging" and doc["group"] == announced["group"] and doc["restore"]["plan"]["calls"]
    assert doc["attribution"]["actor"].endswith("/mallory")
    assert alert_records.load(conn, announced["id"])["status"] == "recovered"
    outbox.flush(conn, settings)
    posts, updates = slack.of("chat.postMessage"), slack.of("chat.update")
    assert len(posts) == 1 and updates and "restore" in str(updates[-1].params["blocks"])
    assert cycle(conn, settings, acct) == 0 and len(alert_records.open_alerts(conn, ACCOUNT, HOME)) == 1


def test_a_change_the_pushed_path_alerts_while_the_poller_looks_is_alerted_once(
    env: tuple[RedisClient, Settings, SlackStandIn, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.cloudtrail_records import pushed
    from workers.monitor.pushed import parse
    from workers.monitor.pushed_alerts import record as record_pushed

    conn, settings, slack, acct = env
    cycle(conn, settings, acct)
    FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
    stop = parse(pushed("StopLogging", actor="mallory", region=HOME))
    assert isinstance(stop, ChangeEvent) and record_pushed(conn, settings, [stop]) == 1
    # the poller looked before the push committed
    monkeypatch.setattr(alert_records, "is_open", lambda conn, key: False)
    stubbed_lookups(monkeypatch, acct, [[]])
    assert cycle(conn, settings, acct) == 0  # its commit sees the pushed alert: nothing raised twice
    assert len(alert_records.open_alerts(conn, ACCOUNT, HOME)) == 1
    outbox.flush(conn, settings)
    assert len([c for c in slack.of("chat.postMessage") if "UNAPPROVED" in c.params["text"]]) == 1


def test_a_pushed_alert_raised_while_the_poller_looks_is_not_closed_by_its_older_look(
    env: tuple[RedisClient, Settings, SlackStandIn, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.cloudtrail_records import pushed
    from workers.monitor.pushed import parse
    from workers.monitor.pushed_alerts import record as record_pushed
    from workers.resources import watched

    conn, settings, slack, acct = env
    cycle(conn, settings, acct)
    stop = parse(pushed("StopLogging", actor="mallory", region=HOME))
    assert isinstance(stop, ChangeEvent)
    looked = watched.observe

    def observe_then_the_push_lands(account: Account, region: str, *more: Any) -> dict[str, Any]:
        seen = looked(account, region, *more)  # the trail was still logging when the poller read it
        FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
        assert record_pushed(conn, settings, [stop]) == 1
        return seen

    monkeypatch.setattr(watched, "observe", observe_then_the_push_lands)
    stubbed_lookups(monkeypatch, acct, [[], []])
    assert cycle(conn, settings, acct) == 0
    [doc] = alert_records.open_alerts(conn, ACCOUNT, HOME)  # not "recovered" by a look older than the alert
    monkeypatch.setattr(watched, "observe", looked)
    assert cycle(conn, settings, acct) == 0 and alert_records.open_alerts(conn, ACCOUNT, HOME) == [doc]
    outbox.flush(conn, settings)
    assert len([c for c in slack.of("chat.postMessage") if "UNAPPROVED" in c.params["text"]]) == 1


def test_takes_away_reads_the_parameters() -> None:
    when = dt.datetime.now(dt.UTC)
    off = record("PutEventSelectors", when, params={"trailName": "management", "eventSelectors": [
        {"readWriteType": "All", "includeManagementEvents": False}]})  # fmt: skip
    on = record("PutEventSelectors", when, params={"trailName": "management", "eventSelectors": [
        {"readWriteType": "All", "includeManagementEvents": True}]})  # fmt: skip
    refused = record("StopLogging", when, error="AccessDenied")
    assert tampering.takes_away(parse_event(off, ACCOUNT, HOME))
    assert not tampering.takes_away(parse_event(on, ACCOUNT, HOME))
    assert not tampering.takes_away(parse_event(refused, ACCOUNT, HOME))
