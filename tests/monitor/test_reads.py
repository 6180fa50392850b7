"""What a monitor cycle reads (moto, a real redis-server): the calls of a steady cycle, counted; what the
cheaper reads still see at once (a stopped recorder, a deleted channel), what they see within their bound (a
narrowed recorder), and what makes a region read whole again. moto's `ListTrails` names the trails of its
region and the multi-region ones of others (AWS's names every trail); the trails here are multi-region."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

import pytest
from redis import Redis as RedisClient

from demo.fake_account import HOME, FakeAccount, compliant
from demo.servers import Moto
from workers.aws import accounts
from workers.core.settings import Settings
from workers.monitor import reads, watch
from workers.state import alert_records, keys

OTHER, THIRD = "eu-west-1", "eu-central-1"
REGIONS = [HOME, OTHER, THIRD]
QUIET = 1_000_003  # an interval number at which no region of three is due a full read or a lookup
STEADY = {"cloudtrail:ListTrails": 1, "cloudtrail:DescribeTrails": 1, "cloudtrail:GetTrailStatus": 1,
          "cloudtrail:GetEventSelectors": 1, "s3:GetBucketLifecycleConfiguration": 1, "s3:GetBucketPolicy": 1,
          "logs:DescribeMetricFilters": 1, "cloudwatch:DescribeAlarmsForMetric": 1,
          "sns:ListSubscriptionsByTopic": 1, "config:DescribeConfigurationRecorderStatus": 3}  # fmt: skip


@pytest.fixture
def env(aws: Moto, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisClient]:
    """Three compliant regions, a clean Redis, reads due every 10 cycles, and interval numbers set by the test
    (`turn`)."""
    compliant(REGIONS)
    for key, value in {"REDIS_URL": redis_url, "TRAIL_AUDIT_REGIONS": ",".join(REGIONS),
                       "TRAIL_AUDIT_MONITOR_FULL_CYCLES": "10", "TRAIL_AUDIT_LOOKUP_CYCLES": "10"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    conn = RedisClient.from_url(redis_url)
    conn.flushall()
    turn(monkeypatch, QUIET)
    yield conn


def turn(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    """Make every look happen in interval `number` (which regions are due what depends on it)."""
    monkeypatch.setattr(reads, "cycle_number", lambda settings, now: number)


def calls_of_a_cycle() -> Counter[str]:
    """The AWS calls of one watch job of the current account."""
    acct = accounts._ACCOUNTS.get("default")
    before = Counter(acct.calls) if acct else Counter()
    watch.watch_account(None)
    return Counter(accounts._ACCOUNTS["default"].calls) - before


def test_a_steady_cycle_reads_only_what_can_change_between_two(env: RedisClient) -> None:
    first = calls_of_a_cycle()  # the baseline reads everything, and the regions
    assert first["ec2:DescribeRegions"] == 1 and first["config:DescribeConfigurationRecorders"] == 3
    assert calls_of_a_cycle() == Counter(STEADY)  # no regions, no trail outside its home, Config by its status
    assert sum(STEADY.values()) == 12  # against 1 + 3 x 5 + 10 = 26 before


def test_the_enabled_regions_are_read_again_after_an_hour(env: RedisClient) -> None:
    calls_of_a_cycle()
    for key in env.scan_iter(keys.monitor_regions("*", "*")):
        env.delete(key)  # what an hour does
    assert calls_of_a_cycle()["ec2:DescribeRegions"] == 1


def test_each_region_reads_everything_in_its_turn(env: RedisClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls_of_a_cycle()
    full = Counter[int]()
    for number in range(QUIET, QUIET + 10):  # ten intervals: each region's turn comes once
        turn(monkeypatch, number)
        full[number] = calls_of_a_cycle()["config:DescribeConfigurationRecorders"]
    assert sorted(full.values()) == [0] * 7 + [1] * 3


def test_a_stopped_recorder_is_alerted_by_its_status_at_once(env: RedisClient) -> None:
    calls_of_a_cycle()
    FakeAccount().client("config", OTHER).stop_configuration_recorder(ConfigurationRecorderName="default")
    assert calls_of_a_cycle()["config:DescribeConfigurationRecorders"] == 0  # not its turn: the status said it
    [alert] = alert_records.open_alerts(env, region=OTHER)
    assert alert["field"] == "recording"


def test_a_channel_deleted_once_its_recorder_stopped_is_alerted_in_the_same_cycle(env: RedisClient) -> None:
    calls_of_a_cycle()
    cfg = FakeAccount().client("config", OTHER)
    cfg.stop_configuration_recorder(ConfigurationRecorderName="default")  # AWS refuses the deletion before
    cfg.delete_delivery_channel(DeliveryChannelName="default")
    calls_of_a_cycle()
    assert {a["field"] for a in alert_records.open_alerts(env, region=OTHER)} == {"recording", "present"}


def test_a_narrowed_recorder_is_alerted_within_its_bound(env: RedisClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls_of_a_cycle()
    FakeAccount().client("config", OTHER).put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": "arn:aws:iam::123456789012:role/aws-config-role",
        "recordingGroup": {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"]}})  # fmt: skip
    calls_of_a_cycle()
    assert alert_records.open_alerts(env) == []  # still recording: the status cannot tell
    numbers = itertools.count(QUIET + 1)
    for _ in range(10):  # within TRAIL_AUDIT_MONITOR_FULL_CYCLES intervals
        turn(monkeypatch, next(numbers))
        calls_of_a_cycle()
        if alert_records.open_alerts(env):
            break
    assert {a["field"] for a in alert_records.open_alerts(env, region=OTHER)} >= {"narrowed"}


def test_a_region_with_an_open_alert_is_read_whole_and_its_history_too(env: RedisClient) -> None:
    calls_of_a_cycle()
    FakeAccount().client("config", OTHER).stop_configuration_recorder(ConfigurationRecorderName="default")
    calls_of_a_cycle()
    again = calls_of_a_cycle()
    assert again["config:DescribeConfigurationRecorders"] == 1 and again["config:DescribeDeliveryChannels"] == 1
    assert again["cloudtrail:LookupEvents"] == 1  # who stopped it, who starts it again


def test_a_trail_homed_elsewhere_is_described_there_and_its_deletion_seen(env: RedisClient) -> None:
    calls_of_a_cycle()
    acct = FakeAccount()
    acct.bucket("eu-trail-logs", OTHER)
    arn = acct.trail("eu-wide", region=OTHER, bucket="eu-trail-logs")
    calls_of_a_cycle()  # its first look in its home region is its baseline
    acct.client("cloudtrail", OTHER).delete_trail(Name="eu-wide")  # moto deletes by name only
    assert calls_of_a_cycle()["cloudtrail:DescribeTrails"] == 2  # its home: it was there at the last look
    assert [a["resource"] for a in alert_records.open_alerts(env, region=OTHER) if a["field"] == "present"] == [arn]


@pytest.mark.parametrize("broken", [False, True])
def test_with_the_pushed_path_healthy_a_quiet_region_waits_its_turn(
    env: RedisClient, monkeypatch: pytest.MonkeyPatch, broken: bool
) -> None:
    monkeypatch.setenv("TRAIL_AUDIT_EVENTS_QUEUE_URL", "http://localhost/123456789012/events")
    calls_of_a_cycle()
    if broken:  # the monitor said the path of one region broken: it is looked at every cycle
        env.set(keys.monitor_blind(f"the pushed event path of 123456789012 {THIRD}"), "no event came")
    looked = [calls_of_a_cycle()["config:DescribeConfigurationRecorderStatus"] for _ in range(2)]
    turn(monkeypatch, QUIET + 1)
    looked.append(calls_of_a_cycle()["config:DescribeConfigurationRecorderStatus"])
    # every second interval (TRAIL_AUDIT_PUSHED_POLL_CYCLES=2) a region takes its turn: 1 of 3, then 2 of 3
    assert looked == ([2, 2, 2] if broken else [1, 1, 2])


def test_the_rules_of_what_is_due(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [reads.full_read(settings, n, 0, [], False) for n in range(5)] == [True, False, False, False, False]
    assert reads.full_read(settings, 1, 0, [{"region": HOME}], False) and reads.full_read(settings, 1, 0, [], True)
    assert [reads.lookup_due(settings, n, 1, False, False) for n in range(3)] == [False, False, True]
    assert reads.lookup_due(settings, 0, 0, True, True) and not reads.lookup_due(settings, 2, 1, False, True)
    assert reads.lookback(settings) == 20 * 60  # 3 x 60 s + CloudTrail's 15 minutes is less
    monkeypatch.setenv("TRAIL_AUDIT_LOOKUP_CYCLES", "10")
    assert reads.lookback(Settings(_env_file=None)) == 10 * 60 + 15 * 60  # type: ignore[call-arg]



def test_a_region_left_for_its_turn_does_not_end_a_blind_spot(
    env: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAIL_AUDIT_EVENTS_QUEUE_URL", "http://localhost/123456789012/events")
    calls_of_a_cycle()
    env.set(keys.monitor_blind("123456789012"), "eu-west-1: denied")  # said by an earlier cycle
    calls_of_a_cycle()  # two regions of three wait for their turn: nothing is known of them
    assert env.exists(keys.monitor_blind("123456789012"))
    monkeypatch.setenv("TRAIL_AUDIT_PUSHED_POLL_CYCLES", "1")  # every region looked at, all readable
    calls_of_a_cycle()
    assert not env.exists(keys.monitor_blind("123456789012"))


def test_every_call_of_the_monitor_is_granted_by_the_policy_of_the_role_it_assumes(env: RedisClient) -> None:
    """The monitor assumes the audit's role (deploy/iam/audit-policy.json): a call it lacks would be denied in AWS
    (and a denied ListTrails silently costs a DescribeTrails in every region)."""
    import json

    from tests.helpers import ROOT
    from workers.aws.errors import iam_action

    used = {iam_action(*name.split(":", 1)) for name in calls_of_a_cycle() + calls_of_a_cycle()}
    used -= {"sts:GetCallerIdentity"}  # allowed for every identity
    policy = json.loads((ROOT / "deploy/iam/audit-policy.json").read_text())
    allowed = {a for st in policy["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    assert used - allowed == set()
