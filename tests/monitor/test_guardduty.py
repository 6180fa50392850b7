"""GuardDuty findings about CloudTrail on the events queue, on a real Redis: a finding about a call already
alerted joins that alert (no second alert, no second page); one about a change trail-audit saw nothing of
raises its own, saying so; each finding once, however often it comes. The envelopes are shaped as EventBridge
delivers GuardDuty findings (the sample finding of `Stealth:IAMUser/CloudTrailLoggingDisabled`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from tests.helpers.cloudtrail_records import ACCOUNT, pushed
from workers.core.settings import Settings
from workers.events.consumer import handle
from workers.monitor import guardduty
from workers.monitor import pushed as reading
from workers.monitor.pushed_alerts import record
from workers.state import alert_records, keys, outgoing

REGION = "us-east-1"
ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/management"


def finding(kind: str = "Stealth:IAMUser/CloudTrailLoggingDisabled", api: str = "StopLogging",
            service: str = "cloudtrail.amazonaws.com", fid: str = "16afba5c5c43e07c9e3") -> str:
    detail: dict[str, Any] = {
        "schemaVersion": "2.0", "accountId": ACCOUNT, "region": REGION, "partition": "aws", "id": fid,
        "arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/{fid}",
        "type": kind,
        "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
            "accessKeyId": "ASIAEXAMPLEKEY", "principalId": "AIDAEXAMPLEID", "userType": "IAMUser",
            "userName": "mallory"}},
        "service": {"serviceName": "guardduty", "detectorId": "12abc34d567e8fa901bc2d34e56789f0",
                    "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
                        "api": api, "serviceName": service, "callerType": "Remote IP",
                        "remoteIpDetails": {"ipAddressV4": "203.0.113.66"}}},
                    "eventFirstSeen": "2026-12-01T10:00:00.000Z", "eventLastSeen": "2026-12-01T10:00:00.000Z",
                    "count": 1},
        "severity": 2, "createdAt": "2026-12-01T10:05:00.000Z", "updatedAt": "2026-12-01T10:05:00.000Z",
        "title": "AWS CloudTrail trail management was disabled.",
        "description": "AWS CloudTrail trail management was disabled by mallory calling StopLogging.",
    }  # fmt: skip
    return json.dumps({"version": "0", "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad", "detail-type": "GuardDuty Finding",
                       "source": "aws.guardduty", "account": ACCOUNT, "time": "2026-12-01T10:05:00Z",
                       "region": REGION, "resources": [], "detail": detail})  # fmt: skip


@pytest.fixture
def conn(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    good = {"logging": True, "multi_region": True, "management": True, "validation": True, "bucket": "b",
            "selectors": {"EventSelectors": [], "AdvancedEventSelectors": []}, "config": {"Name": "management"}}
    client.set(keys.region_state(ACCOUNT, REGION), json.dumps({"at": 0, "since": 0, "state": {
        "trails": {ARN: good}, "recorders": {}, "channels": {}}}))  # fmt: skip
    yield client


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRAIL_AUDIT_ALERT_CHANNEL", "C0ALERTS")
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_which_findings_are_read() -> None:
    found = guardduty.parse(finding())
    assert isinstance(found, guardduty.GuardDutyFinding)
    assert (found.api, found.actor, found.source_ip, found.severity) == ("StopLogging", "mallory", "203.0.113.66", 2)
    anomalous = guardduty.parse(finding("DefenseEvasion:IAMUser/AnomalousBehavior", "StopConfigurationRecorder",
                                        "config.amazonaws.com"))  # fmt: skip
    assert isinstance(anomalous, guardduty.GuardDutyFinding)
    assert isinstance(guardduty.parse(finding("DefenseEvasion:IAMUser/AnomalousBehavior", "DeleteBucket",
                                              "s3.amazonaws.com")), str)  # fmt: skip
    assert isinstance(guardduty.parse(finding("Recon:IAMUser/MaliciousIPCaller")), str)
    assert guardduty.parse(pushed("StopLogging")) is None  # a CloudTrail call: the pushed path's


def test_a_finding_about_an_alerted_call_joins_it_without_a_second_page(conn: Redis, settings: Settings) -> None:
    stop = reading.parse(pushed("StopLogging", actor="mallory", params={"name": "management"}))
    assert not isinstance(stop, reading.Unreadable)
    assert record(conn, settings, [stop]) == 1
    messages = set(outgoing.due(conn, time.time() + 3600))
    found = guardduty.parse(finding())
    assert isinstance(found, guardduty.GuardDutyFinding)
    assert guardduty.record(conn, settings, found) == "joined"
    assert guardduty.record(conn, settings, found) == "seen"  # republished: nothing new
    [doc] = alert_records.recent(conn, ACCOUNT, REGION)
    assert doc["guardduty"]["id"] == found.id and doc["field"] == "logging"
    assert set(outgoing.due(conn, time.time() + 3600)) == messages  # the alert's own message redrawn, no new one
    assert "GuardDuty agrees" in json.dumps(outgoing.record(conn, next(iter(messages))))


def test_a_finding_trail_audit_saw_nothing_of_raises_its_own_alert_once(conn: Redis, settings: Settings) -> None:
    message = {"Body": finding(fid="2bd0f9a4c6e1"), "ReceiptHandle": "r1", "MessageId": "m1"}
    assert handle(conn, settings, [message, {**message, "ReceiptHandle": "r2"}]) == ["r1", "r2"]  # both deleted
    [doc] = alert_records.recent(conn, ACCOUNT, REGION)
    assert doc["title"] == "GuardDuty: Stealth:IAMUser/CloudTrailLoggingDisabled"
    assert "saw no change of its own" in doc["story"] and "mallory" in doc["story"]


def test_malformed_shapes_are_read_without_a_crash(conn: Redis, settings: Settings) -> None:
    """Outside text: a finding whose parts are of the wrong type, CloudTrail records with odd parameters."""
    odd = json.loads(finding(fid="odd1"))
    odd["detail"] |= {"severity": "high", "service": "guardduty", "resource": ["x"]}
    records = [json.dumps(odd), pushed("PutBucketLifecycle", params={"bucketName": "b", "LifecycleConfiguration": "x"}),
               pushed("PutBucketLifecycle", params={"bucketName": "b", "LifecycleConfiguration": {"Rule": {
                   "Status": "Enabled", "Filter": {}, "Expiration": {"Days": "soon"}}}}),
               pushed("DisableAlarmActions", params={"alarmNames": 7}), pushed("StopLogging", params=["management"])]  # type: ignore[arg-type]
    messages = [{"Body": body, "ReceiptHandle": f"r{i}", "MessageId": f"m{i}"} for i, body in enumerate(records)]
    handle(conn, settings, messages)  # no exception: each is recorded, ignored or left for the dead-letter queue
