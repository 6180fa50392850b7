"""The poller's backstop for the links behind a trail: its bucket (existence, lifecycle, policy) and its KMS key
(disabled, scheduled for deletion). Each tamper on moto is one regression; its Restore, executed, puts moto's
state back (judged by observing again and by the check)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from demo.fake_account import ACCOUNT, BUCKET, CIS_PATTERN, HOME, LOG_GROUP, FakeAccount, compliant
from demo.servers import Moto
from workers.aws.accounts import Account, default_account
from workers.core.settings import Settings
from workers.resources import actions, watched
from workers.resources.recheck import recheck

STRATUS_RULE = {"ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Expiration": {"Days": 1}}  # fmt: skip
DENY = {"Version": "2012-10-17", "Statement": [{"Sid": "NoCloudTrail", "Effect": "Deny",
        "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}  # fmt: skip


@pytest.fixture
def chain(aws: Moto, settings: Settings) -> tuple[Account, str, dict[str, Any]]:
    """A compliant account whose management trail encrypts with a KMS key; the key's ARN; the first look."""
    fake = compliant([HOME])
    key = fake.client("kms").create_key(Description="trail logs")["KeyMetadata"]["Arn"]
    fake.client("cloudtrail").update_trail(Name=fake.trails["management"], KmsKeyId=key)
    acct = default_account(settings)
    assert isinstance(acct, Account)
    return acct, key, watched.observe(acct, HOME)


def _key_id(key: str) -> str:
    return key.rsplit("/", 1)[-1]  # moto's KMS takes the id here (AWS takes the ARN too)


def _narrowed(fake: FakeAccount) -> None:
    """The CIS filter put again without StopLogging (deleted first: moto adds a filter of the same name, where
    AWS replaces it)."""
    logs = fake.client("logs")
    logs.delete_metric_filter(logGroupName=LOG_GROUP, filterName="cloudtrail-config-changes")
    logs.put_metric_filter(logGroupName=LOG_GROUP, filterName="cloudtrail-config-changes",
                           filterPattern=CIS_PATTERN.replace(" || ($.eventName = StopLogging)", ""),
                           metricTransformations=[{"metricName": "CloudTrailConfigChanges",
                                                   "metricNamespace": "CISBenchmark", "metricValue": "1"}])  # fmt: skip


TAMPERS: dict[str, tuple[str, str, Any]] = {
    "lifecycle rule": ("bucket", "retention", lambda f, key: f.client("s3").put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration={"Rules": [STRATUS_RULE]})),
    "denying policy": ("bucket", "delivery", lambda f, key: f.client("s3").put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps(DENY))),
    "policy deleted": ("bucket", "delivery", lambda f, key: f.client("s3").delete_bucket_policy(Bucket=BUCKET)),
    "key disabled": ("key", "enabled", lambda f, key: f.client("kms").disable_key(KeyId=_key_id(key))),
    "key deletion": ("key", "deletion", lambda f, key: f.client("kms").schedule_key_deletion(
        KeyId=_key_id(key), PendingWindowInDays=7)),
    "metric filter deleted": ("alarm", "alerting", lambda f, key: f.client("logs").delete_metric_filter(
        logGroupName=LOG_GROUP, filterName="cloudtrail-config-changes")),
    "filter narrowed": ("alarm", "alerting", lambda f, key: _narrowed(f)),
    "alarm deleted": ("alarm", "alerting", lambda f, key: f.client("cloudwatch").delete_alarms(
        AlarmNames=["cloudtrail-config-changes"])),
    "alarm actions disabled": ("alarm", "alerting", lambda f, key: f.client("cloudwatch").disable_alarm_actions(
        AlarmNames=["cloudtrail-config-changes"])),
    "log group removed": ("trail", "log_group", lambda f, key: f.client("cloudtrail").update_trail(
        Name="management", CloudWatchLogsLogGroupArn="", CloudWatchLogsRoleArn="")),
}  # fmt: skip
CHECK = {"retention": "cloudtrail.trail_log_retention"}


@pytest.mark.parametrize("what", list(TAMPERS))
def test_each_link_tampered_is_one_regression_and_restore_puts_it_back(
    chain: tuple[Account, str, dict[str, Any]], settings: Settings, what: str
) -> None:
    acct, key, before = chain
    kind, field, tamper = TAMPERS[what]
    tamper(FakeAccount(), key)
    now = watched.observe(acct, HOME)
    found = watched.regressions(ACCOUNT, HOME, before, now)
    assert [(c.kind, c.field) for c in found] == [(kind, field)], found
    change = found[0].to_dict()
    check = watched.field_of(kind, field).check
    trail = next(iter(before["trails"]))
    assert recheck(acct, settings, check, HOME, trail).status.value == "FAIL"  # type: ignore[union-attr]
    plan = watched.restore_plan(change)
    assert plan.calls and set(actions.permissions(plan)) <= set(actions.get("restore.last_known_good").permissions)
    results = actions.execute(acct, plan)
    assert all(r["ok"] for r in results), results
    after = watched.observe(acct, HOME)
    assert watched.recovered(change, after)
    assert watched.regressions(ACCOUNT, HOME, before, after) == []
    assert recheck(acct, settings, check, HOME, trail).status.value == "PASS"  # type: ignore[union-attr]


@pytest.mark.parametrize("what", ["topic deleted", "last subscription gone"])
def test_a_chain_left_without_anyone_to_notify_is_a_regression(
    chain: tuple[Account, str, dict[str, Any]], what: str
) -> None:
    acct, _, before = chain
    sns = FakeAccount().client("sns")
    topic = sns.list_topics()["Topics"][0]["TopicArn"]
    if what == "topic deleted":
        sns.delete_topic(TopicArn=topic)
    else:
        for sub in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    [change] = watched.regressions(ACCOUNT, HOME, before, watched.observe(acct, HOME))
    assert (change.kind, change.field, change.before) == ("alarm", "alerting", "alarms on every trail change")
    assert "no longer exists" in change.after or "no confirmed subscriber" in change.after, change.after


def test_a_deleted_bucket_is_alerted_once_without_a_restore(chain: tuple[Account, str, dict[str, Any]]) -> None:
    acct, _, before = chain
    s3 = FakeAccount().client("s3")
    s3.delete_bucket_policy(Bucket=BUCKET)  # moto deletes a bucket that has no objects; the policy goes with it
    s3.delete_bucket(Bucket=BUCKET)
    found = watched.regressions(ACCOUNT, HOME, before, watched.observe(acct, HOME))
    assert [(c.kind, c.field) for c in found] == [("bucket", "exists")], found
    assert watched.field_of("bucket", "exists").restorable is False


def test_a_bucket_no_trail_uses_any_more_is_let_go_not_alerted(chain: tuple[Account, str, dict[str, Any]]) -> None:
    acct, _, before = chain
    fake = FakeAccount()
    fake.bucket("new-log-bucket")
    fake.client("cloudtrail").update_trail(Name="management", S3BucketName="new-log-bucket")
    found = watched.regressions(ACCOUNT, HOME, before, watched.observe(acct, HOME))
    assert [(c.kind, c.field, c.after) for c in found] == [("trail", "bucket", "new-log-bucket")], found


def test_only_a_sooner_expiry_is_a_regression(chain: tuple[Account, str, dict[str, Any]]) -> None:
    acct, _, before = chain
    rule = STRATUS_RULE | {"Expiration": {"Days": 3650}}
    FakeAccount().client("s3").put_bucket_lifecycle_configuration(Bucket=BUCKET,
                                                                  LifecycleConfiguration={"Rules": [rule]})
    longer = watched.observe(acct, HOME)
    assert longer["buckets"][BUCKET]["expiry_days"] == 3650
    assert [c.field for c in watched.regressions(ACCOUNT, HOME, before, longer)] == ["retention"]  # None -> 3650
    FakeAccount().client("s3").put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration={"Rules": [rule | {"Expiration": {"Days": 4000}}]})
    assert watched.regressions(ACCOUNT, HOME, longer, watched.observe(acct, HOME)) == []
