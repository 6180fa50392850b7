"""End to end, the monitor: the Procfile's web, worker and cron scheduler, a real redis-server, a moto server
and the Slack stand-in. Tampering is done with boto3 against moto, as an intruder would against AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis as RedisClient

from demo.fake_account import ACCOUNT, BUCKET, CONFIG_ROLE, HOME, FakeAccount, compliant
from demo.servers import Moto, start_redis
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from tests.e2e.test_e2e_approvals import SECRET, click, command, prompt_of, request_id_in
from tests.helpers.waiting import wait_until
from workers.state import monitor_records

pytestmark = pytest.mark.e2e
ALERTS = "C0ALERTS"
SETTINGS = {"TRAIL_AUDIT_REGIONS": HOME, "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS, "TRAIL_AUDIT_MONITOR_SECONDS": "5",
            "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB", "TRAIL_AUDIT_ALERT_MENTION": "<!subteam^S0ONCALL>"}  # fmt: skip
MANAGEMENT = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"
APP = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/app"
STRATUS_RULE = {"ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Expiration": {"Days": 1}}  # fmt: skip
DENY = {"Version": "2012-10-17", "Statement": [{"Sid": "NoCloudTrail", "Effect": "Deny", "Principal": "*",
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}  # fmt: skip


@pytest.fixture
def watched(aws: Moto) -> Iterator[dict[str, Any]]:
    fake = compliant([HOME])
    fake.trail("app", multi_region=False)
    fake.trail("scratch", multi_region=False)
    key = fake.client("kms").create_key(Description="trail logs")["KeyMetadata"]["KeyId"]
    fake.client("cloudtrail").update_trail(Name=MANAGEMENT, KmsKeyId=key)
    redis = start_redis()
    with SlackStandIn() as slack:
        stack = Stack(aws.url, redis.url, slack.api_url, SECRET, SETTINGS)
        try:
            stack.start()
            conn = RedisClient.from_url(redis.url)
            wait_until(lambda: monitor_records.last_cycle(conn), 30)  # the first cycle: the baseline
            yield {"stack": stack, "slack": slack, "redis": redis, "conn": conn, "fake": fake, "key": key}
        finally:
            stack.stop()
            redis.stop()


def alerts_in(slack: SlackStandIn) -> list[Call]:
    return [c for c in slack.of("chat.postMessage") if c.params["channel"] == ALERTS and not c.params.get("thread_ts")
            and ("change:" in c.params["text"] or "changes to" in c.params["text"])]  # fmt: skip


def cycles_pass(conn: RedisClient, n: int) -> None:
    """Wait until `n` more monitor cycles have finished."""
    for _ in range(n):
        at = (monitor_records.last_cycle(conn) or {}).get("at")
        wait_until(lambda at=at: (monitor_records.last_cycle(conn) or {}).get("at") != at, 30)


def alert_views(slack: SlackStandIn) -> dict[str, str]:
    """Each alert message in the channel (by ts) as it reads now: its post, then its latest update."""
    posted = {c.params["_ts"]: json.dumps(c.params) for c in alerts_in(slack)}
    for c in slack.of("chat.update"):
        if c.params.get("channel") == ALERTS and c.params["ts"] in posted:
            posted[c.params["ts"]] = json.dumps(c.params)
    return posted


def test_each_tamper_alerts_once_with_before_and_after_and_recovery_goes_in_the_thread(watched: dict[str, Any]) -> None:
    slack: SlackStandIn = watched["slack"]
    ct, cfg = FakeAccount().client("cloudtrail"), FakeAccount().client("config")
    s3, kms, cw = FakeAccount().client("s3"), FakeAccount().client("kms"), FakeAccount().client("cloudwatch")
    cycles_pass(watched["conn"], 1)  # the tampers start as a cycle ends: they fall in one cycle, or two
    ct.stop_logging(Name=MANAGEMENT)
    ct.put_event_selectors(TrailName=APP, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}])
    ct.delete_trail(Name="scratch")
    cfg.stop_configuration_recorder(ConfigurationRecorderName="default")
    cfg.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": CONFIG_ROLE, "recordingGroup": {
        "allSupported": False, "resourceTypes": ["AWS::S3::Bucket"],
        "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"}}})  # fmt: skip
    # and around the switches: the trail's bucket forgets, its key is switched off, its alarm silenced
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [STRATUS_RULE]})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(DENY))
    kms.disable_key(KeyId=watched["key"])
    cw.disable_alarm_actions(AlarmNames=["cloudtrail-config-changes"])
    titles = {
        "Trail management stopped logging": ("yes", "no"),
        "Trail app no longer records all management events": ("yes", "no"),
        "Trail scratch was deleted": ("present", "missing"),
        "Config recorder default stopped recording": ("yes", "no"),
        "Config recorder default records fewer resource types": ('{\\"allSupported\\":true', "AWS::S3::Bucket"),
        f"Log bucket {BUCKET} got a lifecycle rule that deletes trail logs sooner": ("kept for ever", "after 1 day"),
        f"Log bucket {BUCKET} no longer lets CloudTrail write the trail's logs": ("yes", "no"),
        f"KMS key {watched['key']} was disabled": ("Enabled", "Disabled"),
        "alarm of trail management no longer alarms on CloudTrail changes": ("alarms on every trail change",
                                                                              "actions disabled"),
    }
    wait_until(lambda: all(any(title in v for v in alert_views(slack).values()) for title in titles), 60)
    views = alert_views(slack)
    assert len(views) <= 2  # the changes of one cycle are one message (two if they straddled a cycle)
    for title, (before, after) in titles.items():
        view = next(v for v in views.values() if title in v)
        assert before in view and after in view, (title, view)
    stopped = next(v for v in views.values() if "Trail management stopped logging" in v)
    assert "UNAPPROVED" in stopped and "LookupEvents" in stopped  # moto has no LookupEvents: said, not hidden
    assert '"restore"' in stopped and ('"ack_alert"' in stopped or '"ack_group"' in stopped)
    assert json.loads(stopped)["text"].startswith("<!subteam^S0ONCALL>")
    cycles_pass(watched["conn"], 2)
    assert len(alert_views(slack)) == len(views)  # persisting regressions are not posted again

    ct.start_logging(Name=MANAGEMENT)  # someone puts it back by hand
    wait_until(lambda: [c for c in slack.of("chat.postMessage") if c.params.get("thread_ts")
                        and "Recovered: `logging` is back to `yes`" in c.params["text"]], 30)  # fmt: skip
    cycles_pass(watched["conn"], 1)
    assert len(alert_views(slack)) == len(views)


def test_acknowledge_and_restore_through_approval(watched: dict[str, Any]) -> None:
    slack: SlackStandIn = watched["slack"]
    FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
    alert = wait_until(lambda: alerts_in(slack), 30)[0]
    alert_id = next(e["value"] for b in alert.params["blocks"] if b["type"] == "actions" for e in b["elements"]
                    if e["action_id"] == "restore")  # fmt: skip
    flow = {"stack": watched["stack"], "slack": slack}
    click(flow, "ack_alert", alert_id, "U0BOB", alert)
    wait_until(lambda: [c for c in slack.of("chat.update") if "acknowledged by <@U0BOB>" in json.dumps(c.params)], 10)
    click(flow, "restore", alert_id, "U0BOB", alert)
    told = wait_until(
        lambda: [c for c in slack.of("chat.postMessage") if "Restore requested by <@U0BOB>" in c.params["text"]], 10
    )
    rid = told[0].params["text"].split("`")[1]
    prompt = prompt_of(slack, rid)
    assert "cloudtrail:StartLogging" in json.dumps(prompt.params["blocks"])
    click(flow, "approve", rid, "U0ALICE", prompt)
    recovered = wait_until(lambda: [c for c in slack.of("chat.postMessage") if "Recovered" in c.params["text"]], 30)
    assert f"restored by trail-audit request `{rid}`" in recovered[0].params["text"]
    assert FakeAccount().client("cloudtrail").get_trail_status(Name=MANAGEMENT)["IsLogging"] is True


def test_a_change_made_by_an_approved_backout_is_labelled_approved(watched: dict[str, Any]) -> None:
    slack: SlackStandIn = watched["slack"]
    flow = {"stack": watched["stack"], "slack": slack}
    rid = request_id_in(command(flow, "backout management 5 tuning data events", "U0ALICE"))
    click(flow, "approve", rid, "U0BOB", prompt_of(slack, rid))
    alert = wait_until(lambda: [c for c in slack.of("chat.postMessage") if "Approved change" in c.params["text"]], 30)
    shown = json.dumps(alert[0].params["blocks"])
    assert f"request `{rid}`" in shown and "<@U0ALICE>" in shown and "approved by <@U0BOB>" in shown
    assert not alert[0].params["text"].startswith("<!subteam")  # no mention for an approved change
    assert not alerts_in(slack) or all("UNAPPROVED" not in c.params["text"] for c in alerts_in(slack))
    status = command(flow, "status", "U0ALICE")["text"]
    assert "Monitor: last cycle" in status and "AWS calls" in status and "Open alerts: 1" in status
