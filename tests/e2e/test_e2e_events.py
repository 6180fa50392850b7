"""Pushed events end to end: the CloudFormation template on moto (an event on the bus reaches the queue), then
the `events` process beside web, worker, clock, a real redis-server, moto's SQS and the Slack stand-in."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from redis import Redis as RedisClient

from demo.fake_account import ACCOUNT, BUCKET, HOME, FakeAccount, compliant
from demo.servers import Moto, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from tests.helpers import ROOT
from tests.helpers.cloudtrail_records import pushed, stratus_lifecycle
from tests.helpers.waiting import wait_until
from tests.monitor.test_guardduty import finding
from workers.aws.event_history import WATCHED_NAMES
from workers.monitor.pushed import SOURCES
from workers.state import alert_records, keys

pytestmark = pytest.mark.e2e
SECRET = "events-secret"
ALERTS = "C0ALERTS"
STRATUS_RULE = {"ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Expiration": {"Days": 1}}  # fmt: skip


def test_the_template_deploys_and_a_watched_call_on_the_bus_reaches_the_queue(aws: Moto) -> None:
    """On moto: CloudFormation for the queues and the rule; the queue policy with boto3 (moto's CloudFormation
    has no AWS::SQS::QueuePolicy)."""
    cf = boto3.client("cloudformation", region_name=HOME)
    cf.create_stack(
        StackName="trail-audit-events", TemplateBody=(ROOT / "deploy/events/single-account.yaml").read_text()
    )
    stack = cf.describe_stacks(StackName="trail-audit-events")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    sqs, events = boto3.client("sqs", region_name=HOME), boto3.client("events", region_name=HOME)
    template = (ROOT / "deploy/events/single-account.yaml").read_text()
    for name in ("single-account", "member", "central"):  # every template watches exactly what the poller does
        text = (ROOT / f"deploy/events/{name}.yaml").read_text()
        listed = {line.strip()[2:] for line in text.split("eventName:")[1].split("Targets:")[0].splitlines()
                  if line.strip().startswith("- ")}  # fmt: skip
        sources = f"source: [{', '.join(SOURCES)}]"
        assert listed == set(WATCHED_NAMES) and sources in text, name
    assert "SqsManagedSseEnabled: true" in template
    assert "ArnEquals: {aws:SourceArn: [!GetAtt ToQueue.Arn, !GetAtt GuardDutyToQueue.Arn]}" in template
    rule = next(r for r in events.list_rules()["Rules"] if r["Name"].startswith("trail-audit-events-ToQueue"))
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "OnlyTheTrailAuditRule", "Effect": "Allow",
              "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
              "Resource": out["QueueArn"], "Condition": {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=out["QueueUrl"], Attributes={"Policy": json.dumps(policy)})
    attributes = sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["Policy"])["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == rule["Arn"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith("trail-audit-events-dlq")

    def put(body: str) -> None:
        event = json.loads(body)
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    put(pushed("DescribeTrails"))  # not watched: the rule lets it by
    put(pushed("StopLogging", actor="mallory"))
    put(finding("Recon:IAMUser/MaliciousIPCaller"))  # a GuardDuty finding about something else: let by
    put(finding())  # GuardDuty's CloudTrailLoggingDisabled: the second rule takes it
    got = sqs.receive_message(QueueUrl=out["QueueUrl"], WaitTimeSeconds=2, MaxNumberOfMessages=10).get("Messages", [])
    kinds = sorted(json.loads(m["Body"])["detail-type"] for m in got)
    assert kinds == ["AWS API Call via CloudTrail", "GuardDuty Finding"], kinds
    body = json.loads(next(m["Body"] for m in got if "StopLogging" in m["Body"] and "GuardDuty" not in m["Body"]))
    assert body["detail-type"] == "AWS API Call via CloudTrail" and body["detail"]["eventName"] == "StopLogging"


def test_the_organization_templates_carry_a_member_call_to_the_central_queue(aws: Moto) -> None:
    """On moto, one account plays the security account (central.yaml: the bus, its rule, the queues) and a
    member (member.yaml, the StackSet's template): a watched call on the member's default bus reaches the
    central queue through the central bus."""
    cf = boto3.client("cloudformation", region_name=HOME)
    cf.create_stack(StackName="central", TemplateBody=(ROOT / "deploy/events/central.yaml").read_text(),
                    Parameters=[{"ParameterKey": "OrganizationId", "ParameterValue": "o-exampleorg1"}])  # fmt: skip
    central = cf.describe_stacks(StackName="central")["Stacks"][0]
    out = {o["OutputKey"]: o["OutputValue"] for o in central["Outputs"]}
    cf.create_stack(StackName="member", TemplateBody=(ROOT / "deploy/events/member.yaml").read_text(),
                    Parameters=[{"ParameterKey": "CentralBusArn", "ParameterValue": out["CentralBusArn"]}],
                    Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    assert cf.describe_stacks(StackName="member")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    event = json.loads(pushed("StopLogging", actor="mallory"))
    entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
    boto3.client("events", region_name=HOME).put_events(Entries=[entry])
    got = boto3.client("sqs", region_name=HOME).receive_message(QueueUrl=out["QueueUrl"], WaitTimeSeconds=2)
    assert [json.loads(m["Body"])["detail"]["eventName"] for m in got.get("Messages", [])] == ["StopLogging"]


def drawn(slack: SlackStandIn) -> list[str]:
    """Every alert message's text and blocks as posted or updated."""
    return [json.dumps(c.params) for c in [*slack.of("chat.postMessage"), *slack.of("chat.update")]
            if c.params.get("channel") == ALERTS]  # fmt: skip


def alert_posts(slack: SlackStandIn) -> list[Any]:
    return [c for c in slack.of("chat.postMessage") if c.params["channel"] == ALERTS and not c.params.get("thread_ts")]


def test_a_pushed_stop_alerts_once_with_who_and_the_poller_adds_nothing(aws: Moto) -> None:
    compliant([HOME])
    sqs = boto3.client("sqs", region_name=HOME)
    dlq = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]  # fmt: skip
    redis = start_redis()
    settings = {"TRAIL_AUDIT_REGIONS": HOME, "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS, "TRAIL_AUDIT_MONITOR_SECONDS": "5",
                "TRAIL_AUDIT_EVENTS_QUEUE_URL": url, "TRAIL_AUDIT_EVENTS_WAIT_SECONDS": "1",
                "TRAIL_AUDIT_EVENTS_BURST_SECONDS": "0"}  # fmt: skip
    with SlackStandIn() as slack:
        stack = Stack(aws.url, redis.url, slack.api_url, SECRET, settings)
        try:
            stack.start()
            assert "events" in stack.procs
            conn = RedisClient.from_url(redis.url)
            wait_until(lambda: conn.get(keys.MONITOR_LAST), 30)  # the poller's baseline
            FakeAccount().client("cloudtrail").stop_logging(Name="management")
            stop = pushed("StopLogging", actor="mallory", ip="203.0.113.66")
            sqs.send_message(QueueUrl=url, MessageBody=stop)
            posted = wait_until(lambda: [c for c in alert_posts(slack) if "mallory" in json.dumps(c.params)], 30)
            shown = json.dumps(posted[0].params)
            assert "203.0.113.66" in shown and "stopped logging" in shown and "*Before* `yes`" in shown
            sqs.send_message(QueueUrl=url, MessageBody=stop)  # delivered again
            sqs.send_message(QueueUrl=url, MessageBody="{not an event")
            wait_until(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), 30)
            at = json.loads(conn.get(keys.MONITOR_LAST) or "{}")["at"]
            wait_until(lambda: json.loads(conn.get(keys.MONITOR_LAST) or "{}")["at"] > at + 5, 30)  # two more polls
            assert len([c for c in alert_posts(slack) if "stopped logging" in json.dumps(c.params)]) == 1
            assert all(p.poll() is None for p in stack.procs.values())  # the malformed message crashed nothing

            # around the switch: Stratus Red Team's lifecycle rule on the trail's bucket, pushed as CloudTrail
            # records it; the same call on a bucket no trail uses is ignored
            FakeAccount().client("s3").put_bucket_lifecycle_configuration(
                Bucket=BUCKET, LifecycleConfiguration={"Rules": [STRATUS_RULE]})  # fmt: skip
            for bucket, actor in (("website-assets", "webdev"), (BUCKET, "mallory")):
                sqs.send_message(QueueUrl=url, MessageBody=pushed("PutBucketLifecycle", actor=actor,
                                 ip="203.0.113.77", params=stratus_lifecycle(bucket)))  # fmt: skip
            changed = wait_until(lambda: [v for v in drawn(slack) if "deletes trail logs sooner" in v
                                          and '"restore"' in v], 30)  # fmt: skip
            assert "mallory" in changed[0] and "203.0.113.77" in changed[0] and "after 1 day" in changed[0]
            assert not [v for v in drawn(slack) if "website-assets" in v or "webdev" in v]

            # the known evasions and the alarm chain, each pushed as CloudTrail records it: one alert each, naming
            # who and from where, with Restore where it is exact (the alarm's, once the poller has read the chain)
            ct = FakeAccount().client("cloudtrail")
            ct.update_trail(Name="management", EnableLogFileValidation=False)
            ct.put_event_selectors(TrailName="management", EventSelectors=[
                {"ReadWriteType": "All", "IncludeManagementEvents": False}])  # fmt: skip
            FakeAccount().client("cloudwatch").disable_alarm_actions(AlarmNames=["cloudtrail-config-changes"])
            calls = {"had log file validation turned off": ("UpdateTrail", {"name": "management",
                                                                            "enableLogFileValidation": False}),
                     "no longer records all management events": ("PutEventSelectors", {"trailName": "management",
                         "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": False}]}),
                     "no longer alarms on CloudTrail changes": (
                         "DisableAlarmActions", {"alarmNames": ["cloudtrail-config-changes"]})}  # fmt: skip
            for name, params in calls.values():
                sqs.send_message(QueueUrl=url, MessageBody=pushed(name, actor="mallory", ip="203.0.113.88",
                                                                  params=params))  # fmt: skip
            for title in calls:  # shown with who (a cycle's changes may share one message: a row each, by whom)
                wait_until(lambda t=title: [v for v in drawn(slack) if t in v and "mallory" in v and '"restore"' in v],
                           30)  # fmt: skip
                doc = next(d for d in alert_records.recent(conn, ACCOUNT, HOME) if title in d["title"])
                assert doc["attribution"]["source_ip"] == "203.0.113.88" and doc["restore"], title
            for title in calls:
                posts = [c for c in alert_posts(slack) if title in json.dumps(c.params)]
                assert len(posts) <= 1, title  # one alert each (an event alert redrawn as the change, not a second)
        finally:
            stack.stop()
            redis.stop()
