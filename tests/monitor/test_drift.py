"""The monitor's pieces, directly: observing on moto, what counts as a regression, restoring the last known
good state (judged by moto's state), attribution from realistic LookupEvents records (Stubber), correlation
with executed trail-audit actions, and the rate limit shared through Redis."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from redis import Redis as RedisClient

from demo.fake_account import ACCOUNT, CONFIG_ROLE, HOME, FakeAccount, compliant
from demo.servers import Moto
from tests.helpers.cloudtrail_records import record, stratus_lifecycle
from workers.aws.accounts import Account, default_account
from workers.aws.event_history import ChangeEvent, recent_writes
from workers.core.settings import Settings
from workers.monitor import attribution, tampering
from workers.resources import actions, recorder, watched
from workers.state.rate_limit import RedisLimiter

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
MANAGEMENT = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"


def account(settings: Settings) -> Account:
    acct = default_account(settings)
    assert isinstance(acct, Account)
    return acct


@pytest.fixture
def baseline(aws: Moto, settings: Settings) -> tuple[Account, dict[str, Any]]:
    compliant([HOME])
    acct = account(settings)
    return acct, watched.observe(acct, HOME)


def changes_after(acct: Account, before: dict[str, Any], tamper: Any) -> list[watched.Change]:
    tamper(FakeAccount())
    return watched.regressions(ACCOUNT, HOME, before, watched.observe(acct, HOME))


TAMPERS = {
    "logging": lambda f: f.client("cloudtrail").stop_logging(Name=MANAGEMENT),
    "management": lambda f: f.client("cloudtrail").put_event_selectors(
        TrailName=MANAGEMENT, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}]),
    "validation": lambda f: f.client("cloudtrail").update_trail(Name=MANAGEMENT, EnableLogFileValidation=False),
    "multi_region": lambda f: f.client("cloudtrail").update_trail(Name=MANAGEMENT, IsMultiRegionTrail=False),
    "trail deleted": lambda f: f.client("cloudtrail").delete_trail(Name="management"),  # moto deletes by name only
    "recording": lambda f: f.client("config").stop_configuration_recorder(ConfigurationRecorderName="default"),
    "narrowed": lambda f: f.client("config").put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": CONFIG_ROLE, "recordingGroup": {
            "allSupported": False, "resourceTypes": ["AWS::S3::Bucket"],
            "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"}}}),
}  # fmt: skip


@pytest.mark.parametrize("what", list(TAMPERS))
def test_each_tamper_is_one_regression_and_its_restore_puts_the_state_back(
    baseline: tuple[Account, dict[str, Any]], what: str
) -> None:
    acct, before = baseline
    found = changes_after(acct, before, TAMPERS[what])
    field = {"trail deleted": "present"}.get(what, what)
    assert [c.field for c in found] == [field], found
    change = found[0].to_dict()
    assert watched.regressions(ACCOUNT, HOME, watched.observe(acct, HOME), watched.observe(acct, HOME)) == []
    assert not watched.recovered(change, watched.observe(acct, HOME))
    plan = watched.restore_plan(change)
    assert set(actions.permissions(plan)) <= set(actions.get("restore.last_known_good").permissions)
    results = actions.execute(acct, plan)
    assert all(r["ok"] for r in results), results
    after = watched.observe(acct, HOME)
    assert watched.recovered(change, after)
    assert watched.regressions(ACCOUNT, HOME, before, after) == []


def test_an_unreadable_part_is_never_a_deletion(baseline: tuple[Account, dict[str, Any]], faults: Any) -> None:
    _, before = baseline
    faults(deny={"cloudtrail:DescribeTrails", "config:DescribeConfigurationRecorders"})
    now = watched.observe(account(Settings(_env_file=None)), HOME)  # type: ignore[call-arg]
    assert "error" in now["trails"] and "error" in now["recorders"]
    assert watched.regressions(ACCOUNT, HOME, before, now) == []
    kept = watched.merge(before, now)
    assert kept["trails"] == before["trails"] and kept["recorders"] == before["recorders"]


def test_narrower_recording_groups() -> None:
    everything = {"allSupported": True}
    trails = {"allSupported": False, "resourceTypes": ["AWS::CloudTrail::Trail", "AWS::S3::Bucket"]}
    assert recorder.narrower(everything, trails)
    assert recorder.narrower(trails, {"allSupported": False, "resourceTypes": ["AWS::CloudTrail::Trail"]})
    assert not recorder.narrower(trails, everything)
    excl = {"allSupported": False, "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
            "exclusionByResourceTypes": {"resourceTypes": ["AWS::EC2::VPC"]}}  # fmt: skip
    more = {**excl, "exclusionByResourceTypes": {"resourceTypes": ["AWS::EC2::VPC", "AWS::CloudTrail::Trail"]}}
    assert recorder.narrower(excl, more) and not recorder.narrower(more, excl)


def stopped_change() -> dict[str, Any]:
    return watched.Change(ACCOUNT, HOME, "trail", MANAGEMENT, "logging", True, False, {}).to_dict()


def test_attribution_from_realistic_lookup_events_records() -> None:
    client = boto3.client("cloudtrail", region_name=HOME, aws_access_key_id="x", aws_secret_access_key="y")
    mallory = record("StopLogging", NOW - dt.timedelta(minutes=2), actor="mallory", ip="203.0.113.9",
                     params={"name": MANAGEMENT})  # fmt: skip
    refused = record("StopLogging", NOW - dt.timedelta(minutes=3), actor="eve", error="AccessDenied",
                     params={"name": MANAGEMENT})  # fmt: skip
    other = record("StopLogging", NOW - dt.timedelta(minutes=1), actor="bob", params={"name": "app-audit"})
    noise = record("RunInstances", NOW - dt.timedelta(minutes=1), source="ec2.amazonaws.com", params={})
    with Stubber(client) as stub:
        expected = {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
                    "StartTime": ANY, "EndTime": ANY, "MaxResults": 50}  # fmt: skip
        stub.add_response("lookup_events", {"Events": [other, noise], "NextToken": "t2"}, expected)
        stub.add_response("lookup_events", {"Events": [mallory, refused]}, {**expected, "NextToken": "t2"})
        found = recent_writes(client, ACCOUNT, HOME, NOW - dt.timedelta(minutes=20), NOW, NoWait())
    assert isinstance(found, tuple) and found[1] is False  # every page read
    events = found[0]
    assert {e.name for e in events} == {"StopLogging"}  # RunInstances filtered out
    who = attribution.attribute(stopped_change(), events)
    assert who is not None and who.actor.endswith("/mallory") and who.source_ip == "203.0.113.9"
    assert who.user_agent.startswith("aws-cli/") and who.parameters == {"name": MANAGEMENT}
    assert any(e.failed and e.error_code == "AccessDenied" for e in events)  # the refused attempt is kept
    with Stubber(client) as stub:  # a busy account: the pages read a cycle are bounded
        stub.add_response("lookup_events", {"Events": [other], "NextToken": "t2"}, expected)
        newest = recent_writes(client, ACCOUNT, HOME, NOW - dt.timedelta(minutes=20), NOW, NoWait(), max_pages=1)
        stub.assert_no_pending_responses()
    assert isinstance(newest, tuple) and len(newest[0]) == 1 and newest[1] is True  # cut short, and said so


class NoWait:
    def acquire(self, key: str) -> float:
        return 0.0


def test_correlation_with_an_executed_action_in_the_window() -> None:
    action = {
        "request": "r1", "action": "restore.last_known_good", "account": ACCOUNT, "region": HOME,
        "resource": MANAGEMENT, "requester": "U0ALICE", "approver": "U0BOB", "started": 100.0, "ended": 101.0,
    }  # fmt: skip
    change = stopped_change()
    assert attribution.correlate(change, [action], since=99.0) == action
    assert attribution.correlate(change, [action], since=200.0) is None  # it ran before the previous observation
    assert attribution.correlate(change, [{**action, "resource": "arn:other"}], since=99.0) is None
    # a backout of management events does not explain a trail that stopped logging
    assert attribution.correlate(change, [{**action, "action": "backout.management_events_off"}], since=99.0) is None
    assert attribution.correlate({**change, "field": "management"}, [action], since=99.0) == action


def test_a_restore_explains_only_what_it_put_back() -> None:
    """Found by the demo: a Restore of a trail, whose request's resource is its region, explained the lifecycle
    rule an attacker put on the trail's bucket a few seconds later, and no alert was raised."""
    restore = {"request": "r1", "action": "restore.last_known_good", "account": ACCOUNT, "region": HOME,
               "resource": HOME, "started": 100.0, "ended": 101.0, "restored": [["trail", MANAGEMENT, "logging"]]}
    assert attribution.correlate(stopped_change(), [restore], since=99.0) == restore
    bucket = {**stopped_change(), "kind": "bucket", "resource": "org-cloudtrail-logs", "field": "retention"}
    assert attribution.correlate(bucket, [restore], since=99.0) is None
    rule = ChangeEvent("1970-01-01T00:01:42Z", "PutBucketLifecycle", "s3.amazonaws.com", ACCOUNT, HOME, "mallory",
                       "IAMUser", "203.0.113.66", "aws-cli", None, None, stratus_lifecycle("org-cloudtrail-logs"), "e1")
    assert tampering.event_alerts(ACCOUNT, HOME, [rule], [rule], 0.0, [restore])  # alerted, not "approved"
    stop = ChangeEvent("1970-01-01T00:01:42Z", "StopLogging", "cloudtrail.amazonaws.com", ACCOUNT, HOME, "a", "IAMUser",
                       "ip", "ua", None, None, {"name": MANAGEMENT}, "e2")  # fmt: skip
    assert not tampering.event_alerts(ACCOUNT, HOME, [stop], [stop], 0.0, [restore])  # what it restored: approved


def test_the_lookup_rate_is_shared_by_every_worker(redis_url: str) -> None:
    """Two limiters on separate connections (as two workers would have) share one key's pace: the slots they
    are given (the time of the call plus the wait Redis hands out) are 50 ms apart at 20/s, however the
    threads are scheduled (the waits are not slept here, so a loaded machine cannot blur them)."""
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = RedisLimiter(RedisClient.from_url(redis_url), rate=20.0, sleep=lambda _s: None)
        for _ in range(5):
            with lock:  # one caller at a time, so "now" below is the now the script saw
                stamps.append(time.time() + limiter.acquire(f"{ACCOUNT}:{HOME}"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 10 and min(gaps) >= 0.049, gaps  # 20/s: 50 ms apart (1 ms for the call itself)


def test_a_blind_spot_is_said_once_and_its_end_too(aws: Moto, redis_url: str, monkeypatch: pytest.MonkeyPatch,
                                                    faults: Any) -> None:  # fmt: skip
    from demo.slack_standin import SlackStandIn
    from workers.core.settings import Settings
    from workers.monitor.watch import watch_account
    from workers.slack import outbox
    from workers.state import monitor_records

    compliant([HOME])
    with SlackStandIn() as slack:
        for key, value in {"REDIS_URL": redis_url, "SLACK_API_URL": slack.api_url, "SLACK_BOT_TOKEN": "xoxb-t",
                           "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS", "TRAIL_AUDIT_REGIONS": HOME}.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        RedisClient.from_url(redis_url).flushall()
        watch_account(None)
        assert slack.of("chat.postMessage") == []
        injector = faults(deny={"config:DescribeConfigurationRecorderStatus"})  # read every cycle
        watch_account(None)
        watch_account(None)
        conn = RedisClient.from_url(redis_url)
        outbox.flush(conn, Settings())
        warnings = [c.params["text"] for c in slack.of("chat.postMessage")]
        assert (
            len(warnings) == 1
            and "cannot watch all of" in warnings[0]
            and "DescribeConfigurationRecorderStatus" in warnings[0]
        )
        assert (monitor_records.last_cycle(RedisClient.from_url(redis_url)) or {})["unreadable"]
        injector.deny.clear()
        watch_account(None)
        outbox.flush(conn, Settings())
        assert "watches all of" in slack.of("chat.postMessage")[-1].params["text"]


def test_a_call_on_a_link_of_the_alarm_chain_explains_the_chains_change() -> None:
    """The chain is known by its trail; DisableAlarmActions names its alarm: found in the chain's names."""
    change = {**stopped_change(), "kind": "alarm", "field": "alerting", "resource": MANAGEMENT,
              "snapshot": {"names": ["cloudtrail/management", "cis-filter", "cis-alarm"]}}  # fmt: skip
    disable = ChangeEvent("2026-11-27T11:59:00Z", "DisableAlarmActions", "monitoring.amazonaws.com", ACCOUNT, HOME,
                          "mallory", "IAMUser", "ip", "ua", None, None, {"alarmNames": ["cis-alarm"]}, "e3")
    other = ChangeEvent("2026-11-27T11:59:30Z", "DisableAlarmActions", "monitoring.amazonaws.com", ACCOUNT, HOME,
                        "ops", "IAMUser", "ip", "ua", None, None, {"alarmNames": ["billing"]}, "e4")  # fmt: skip
    assert attribution.attribute(change, [disable, other]) == disable
