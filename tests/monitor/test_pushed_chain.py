"""Pushed calls on the links behind a trail (its bucket, its key), on a real Redis: alerted with who and from
where when a trail of the region uses that bucket or key, ignored otherwise; an envelope whose record lacks
`recipientAccountId` is read with the envelope's `account`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from redis import Redis

from demo.fake_account import cloudtrail_bucket_policy
from tests.helpers.cloudtrail_records import ACCOUNT, pushed, stratus_lifecycle
from workers.aws.event_history import ChangeEvent
from workers.core.settings import Settings
from workers.monitor import pushed as reading
from workers.monitor import tampering
from workers.monitor.pushed_alerts import record
from workers.state import alert_records, keys

REGION = "us-east-1"
BUCKET = "org-cloudtrail-logs"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TRAIL = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/management"
LOG_GROUP, TOPIC = "cloudtrail/management", f"arn:aws:sns:{REGION}:{ACCOUNT}:security-alerts"


@pytest.fixture
def conn(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    client.set(keys.region_state(ACCOUNT, REGION), json.dumps({"at": 0, "since": 0, "state": {
        "trails": {}, "recorders": {}, "channels": {},
        "buckets": {BUCKET: {"exists": True, "expiry_days": None, "delivery": True, "lifecycle": [], "policy": {}}},
        "keys": {KEY: {"state": "Enabled", "trails": []}},
        "chains": {TRAIL: {"alerting": True, "state": "alarms", "names": [LOG_GROUP, "cis-filter", "cis-alarm", TOPIC],
                           "filters": [], "alarms": []}}}}))  # fmt: skip
    yield client


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRAIL_AUDIT_ALERT_CHANNEL", "C0ALERTS")
    return Settings(_env_file=None)  # type: ignore[call-arg]


def event(body: str) -> ChangeEvent:
    found = reading.parse(body)
    assert isinstance(found, ChangeEvent), found
    return found


def test_the_stratus_lifecycle_rule_on_a_trails_bucket_is_alerted_with_who(conn: Redis, settings: Settings) -> None:
    rule = event(pushed("PutBucketLifecycle", actor="mallory", ip="203.0.113.66", params=stratus_lifecycle(BUCKET)))
    assert rule.source == "s3.amazonaws.com" and tampering.takes_away(rule)
    assert record(conn, settings, [rule]) == 1
    [doc] = alert_records.open_alerts(conn)  # the state alert the poller would raise, with who, before and after
    assert doc["resource"] == BUCKET and doc["attribution"]["actor"].endswith("/mallory")
    assert doc["attribution"]["source_ip"] == "203.0.113.66" and "deletes trail logs sooner" in doc["title"]
    assert (doc["before"], doc["after"], doc["after_text"]) == (None, 1, "deleted after 1 day")
    assert [c["operation"] for c in doc["restore"]["plan"]["calls"]] == ["DeleteBucketLifecycle"]
    undo = event(pushed("DeleteBucketLifecycle", actor="alice", params={"bucketName": BUCKET}))
    assert record(conn, settings, [undo]) == 0 and alert_records.open_alerts(conn) == []  # told recovered


def test_calls_on_buckets_and_keys_no_trail_uses_are_ignored(conn: Redis, settings: Settings) -> None:
    other = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/ffffffff-0000-0000-0000-000000000000"
    calls = [event(pushed("PutBucketLifecycle", params=stratus_lifecycle("website-assets"))),
             event(pushed("DeleteBucketPolicy", params={"bucketName": "website-assets"})),
             event(pushed("DisableKey", params={"keyId": other}))]  # fmt: skip
    assert record(conn, settings, calls) == 0
    assert alert_records.recent(conn, ACCOUNT, REGION) == []


@pytest.mark.parametrize("key", [KEY, KEY.rsplit("/", 1)[-1]])
def test_a_trails_key_disabled_by_arn_or_id_is_alerted(conn: Redis, settings: Settings, key: str) -> None:
    assert record(conn, settings, [event(pushed("DisableKey", actor="mallory", params={"keyId": key}))]) == 1
    [doc] = alert_records.open_alerts(conn)
    assert "was disabled" in doc["title"] and doc["attribution"]["actor"].endswith("/mallory")
    assert (doc["before"], doc["after"], doc["resource"]) == ("Enabled", "Disabled", KEY)
    assert [c["operation"] for c in doc["restore"]["plan"]["calls"]] == ["EnableKey"]
    assert record(conn, settings, [event(pushed("EnableKey", actor="alice", params={"keyId": key}))]) == 0
    assert alert_records.open_alerts(conn) == []


def test_a_lifecycle_rule_that_deletes_nothing_takes_nothing_away() -> None:
    params = stratus_lifecycle(BUCKET)
    params["LifecycleConfiguration"]["Rule"] = {"ID": "to-glacier", "Status": "Enabled", "Filter": {"Prefix": ""},
                                                "Transition": {"Days": "30", "StorageClass": "GLACIER"}}  # fmt: skip
    assert not tampering.takes_away(event(pushed("PutBucketLifecycle", params=params)))


def test_an_envelope_whose_record_lacks_the_account_takes_the_envelopes(conn: Redis) -> None:
    body = json.loads(pushed("StopLogging"))
    del body["detail"]["recipientAccountId"]
    found = event(json.dumps(body))
    assert found.account == ACCOUNT == body["account"]
    del body["account"]
    unread = reading.parse(json.dumps(body))
    assert isinstance(unread, reading.Unreadable) and "recipientAccountId" in unread.reason


@pytest.mark.parametrize(
    ("name", "params"),
    [("DisableAlarmActions", {"alarmNames": ["cis-alarm"]}), ("DeleteAlarms", {"alarmNames": ["cis-alarm"]}),
     ("DeleteMetricFilter", {"logGroupName": LOG_GROUP, "filterName": "cis-filter"}),
     ("DeleteTopic", {"topicArn": TOPIC}), ("Unsubscribe", {"subscriptionArn": f"{TOPIC}:0f1e2d3c"})],
)  # fmt: skip
def test_a_call_on_a_link_of_the_alarm_chain_is_alerted_and_elsewhere_ignored(
    conn: Redis, settings: Settings, name: str, params: dict[str, object]
) -> None:
    elsewhere = json.loads(json.dumps(params).replace("cis-", "billing-").replace("security-alerts", "billing"))
    assert record(conn, settings, [event(pushed(name, actor="webdev", params=elsewhere))]) == 0
    assert record(conn, settings, [event(pushed(name, actor="mallory", params=params))]) == 1
    [doc] = alert_records.recent(conn, ACCOUNT, REGION)
    assert name in doc["title"] and doc["attribution"]["actor"].endswith("/mallory")


WHOLE = {"alerting": True, "state": "whole", "names": [LOG_GROUP, "cis-filter", "cis-alarm", TOPIC],
         "filters": [{"logGroupName": LOG_GROUP, "filterName": "cis-filter", "filterPattern": "{ }",
                      "metricTransformations": []}],
         "alarms": [{"AlarmName": "cis-alarm", "AlarmActions": [TOPIC], "ActionsEnabled": True, "MetricName": "M",
                     "Namespace": "N"}],
         "subscribers": {TOPIC: 1}}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "params", "broken"),
    [
        ("DeleteMetricFilter", {"logGroupName": LOG_GROUP, "filterName": "cis-filter"}, "cis-filter was deleted"),
        ("PutMetricFilter", {"logGroupName": LOG_GROUP, "filterName": "cis-filter",
                             "filterPattern": "{ $.eventName = StopLogging }"}, "no longer matches"),
        ("DisableAlarmActions", {"alarmNames": ["cis-alarm"]}, "actions disabled"),
        ("DeleteAlarms", {"alarmNames": ["cis-alarm"]}, "cis-alarm was deleted"),
        ("DeleteTopic", {"topicArn": TOPIC}, "was deleted"),
        ("Unsubscribe", {"subscriptionArn": f"{TOPIC}:0f1e2d3c"}, "last subscription"),
        ("PutMetricAlarm", {"alarmName": "cis-alarm", "metricName": "M", "namespace": "N", "actionsEnabled": False,
                            "alarmActions": [TOPIC]}, "actions disabled"),
        ("PutMetricAlarm", {"alarmName": "cis-alarm", "metricName": "Other", "namespace": "N",
                            "alarmActions": [TOPIC]}, "no longer watches"),
    ],
)  # fmt: skip
def test_a_pushed_call_on_the_chain_is_the_chains_alert_with_what_broke(
    conn: Redis, settings: Settings, name: str, params: dict[str, object], broken: str
) -> None:
    state = json.loads(conn.get(keys.region_state(ACCOUNT, REGION)) or "{}")
    state["state"]["chains"][TRAIL] = WHOLE
    conn.set(keys.region_state(ACCOUNT, REGION), json.dumps(state))
    assert record(conn, settings, [event(pushed(name, actor="mallory", params=params))]) == 1
    [doc] = alert_records.open_alerts(conn)
    assert (doc["kind"], doc["resource"], doc["before"]) == ("alarm", TRAIL, "alarms on every trail change")
    assert broken in doc["after"] and doc["attribution"]["actor"].endswith("/mallory")
    assert [c["operation"] for c in doc["restore"]["plan"]["calls"]] == ["PutMetricFilter", "PutMetricAlarm"]


def test_an_alarm_put_again_as_it_was_is_not_alerted(conn: Redis, settings: Settings) -> None:
    state = json.loads(conn.get(keys.region_state(ACCOUNT, REGION)) or "{}")
    state["state"]["chains"][TRAIL] = WHOLE
    conn.set(keys.region_state(ACCOUNT, REGION), json.dumps(state))
    same = {"alarmName": "cis-alarm", "metricName": "M", "namespace": "N", "alarmActions": [TOPIC]}
    assert record(conn, settings, [event(pushed("PutMetricAlarm", params=same))]) == 0


def test_a_pushed_policy_is_judged_against_the_buckets_trails(conn: Redis, settings: Settings) -> None:
    state = json.loads(conn.get(keys.region_state(ACCOUNT, REGION)) or "{}")
    state["state"]["buckets"][BUCKET] |= {"trails": [TRAIL], "about": {TRAIL: {"S3KeyPrefix": None}}}
    conn.set(keys.region_state(ACCOUNT, REGION), json.dumps(state))
    allow = cloudtrail_bucket_policy(BUCKET)
    assert record(conn, settings, [event(pushed("PutBucketPolicy", params={"bucketName": BUCKET,
                                                                           "bucketPolicy": allow}))]) == 0  # fmt: skip
    deny = {"Statement": [{"Sid": "NoCloudTrail", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                           "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}  # fmt: skip
    denying = event(pushed("PutBucketPolicy", actor="mallory", params={"bucketName": BUCKET, "bucketPolicy": deny}))
    assert record(conn, settings, [denying]) == 1
    [doc] = alert_records.open_alerts(conn)
    assert (doc["field"], doc["before"], doc["after"]) == ("delivery", True, False)
    assert [c["operation"] for c in doc["restore"]["plan"]["calls"]] == ["DeleteBucketPolicy"]  # it had none
