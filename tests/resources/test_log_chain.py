"""The links behind a trail: its bucket's lifecycle and policy, its KMS key. Judged on moto's state through the
real engine; the pure judges (`shortest_expiry`, `delivery_allowed`) directly."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from demo.fake_account import ACCOUNT, BUCKET, HOME, cloudtrail_bucket_policy, compliant
from tests.helpers.faults import Faults
from workers.audit.engine import run_audit
from workers.core.settings import Settings
from workers.resources.bucket import delivery_allowed, shortest_expiry
from workers.resources.facts import TrailFacts
from workers.resources.findings import Finding, Status
from workers.resources.trail import trail_s3_delivery

REGIONS = [HOME]
TRAIL_ARN = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"
# Stratus Red Team's aws.defense-evasion.cloudtrail-lifecycle-rule: every object expires after one day
STRATUS_RULE = {"ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Expiration": {"Days": 1}}  # fmt: skip


def finding(settings: Settings, check: str) -> Finding:
    found = [f for f in run_audit(settings, regions=REGIONS).findings if f.check == check]
    assert len(found) == 1, found
    return found[0]


# --- retention ---------------------------------------------------------------------------------------------


def test_no_lifecycle_configuration_keeps_the_logs(settings: Settings) -> None:
    compliant(REGIONS)
    f = finding(settings, "cloudtrail.trail_log_retention")
    assert f.status is Status.PASS and f.resource.endswith(":trail/management"), f


def test_the_stratus_lifecycle_rule_fails_retention(settings: Settings) -> None:
    acct = compliant(REGIONS)
    s3 = acct.client("s3")
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [STRATUS_RULE]})
    f = finding(settings, "cloudtrail.trail_log_retention")
    assert f.status is Status.FAIL
    assert "nuke-cloudtrail-logs-after-1-day" in f.detail and "after 1 days" in f.detail and "365" in f.detail


def test_retention_follows_the_setting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    acct = compliant(REGIONS)
    rule = STRATUS_RULE | {"Expiration": {"Days": 400}}
    acct.client("s3").put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [rule]})
    assert finding(settings, "cloudtrail.trail_log_retention").status is Status.PASS
    monkeypatch.setenv("TRAIL_AUDIT_LOG_RETENTION_DAYS", "730")
    assert finding(Settings(_env_file=None), "cloudtrail.trail_log_retention").status is Status.FAIL  # type: ignore[call-arg]


def test_unreadable_lifecycle_is_error_naming_the_action(settings: Settings, faults: Callable[..., Faults]) -> None:
    compliant(REGIONS)
    faults(deny={"s3:GetBucketLifecycleConfiguration"})  # the operation; its IAM action is named otherwise
    f = finding(settings, "cloudtrail.trail_log_retention")
    assert f.status is Status.ERROR and "s3:GetLifecycleConfiguration" in f.detail


@pytest.mark.parametrize(
    ("rule", "days"),
    [
        (STRATUS_RULE, 1),
        ({"ID": "other-prefix", "Status": "Enabled", "Filter": {"Prefix": "elb/"}, "Expiration": {"Days": 1}}, None),
        ({"ID": "logs-region", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/123456789012/CloudTrail/eu-west-1/"},
          "Expiration": {"Days": 7}}, 7),
        ({"ID": "legacy", "Status": "Enabled", "Prefix": "AWSLogs/", "Expiration": {"Days": 30}}, 30),
        ({"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}, None),
        ({"ID": "tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}},
          "Expiration": {"Days": 1}}, None),
        ({"ID": "and-tags", "Status": "Enabled",
          "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": "b"}]}}, "Expiration": {"Days": 1}}, None),
        ({"ID": "noncurrent", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 3}},
         3),
        ({"ID": "markers", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True}}, None),
        ({"ID": "dated", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": "2026-12-11T00:00:00Z"}}, 10),
        ({"ID": "moves", "Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]},
         None),
    ],
)  # fmt: skip
def test_which_rules_delete_a_trails_logs(rule: dict[str, object], days: int | None) -> None:
    found = shortest_expiry([rule], "AWSLogs/", today=dt.date(2026, 12, 1))
    assert (found.days if found else None) == days


def test_a_rule_for_another_trails_prefix_does_not_count() -> None:
    rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "other/AWSLogs/"}, "Expiration": {"Days": 1}}
    assert shortest_expiry([rule], "main/AWSLogs/") is None
    assert shortest_expiry([rule], "other/AWSLogs/") is not None


# --- policy ------------------------------------------------------------------------------------------------


def test_the_documented_policy_allows_delivery() -> None:
    assert delivery_allowed(cloudtrail_bucket_policy(BUCKET), BUCKET, "AWSLogs/", ACCOUNT, TRAIL_ARN) is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda p: {"Statement": []}, "no policy"),
        (lambda p: {"Statement": p["Statement"][:1]}, "no statement allows"),
        (lambda p: {"Statement": p["Statement"] + [{"Sid": "Block", "Effect": "Deny", "Principal": "*",
                                                    "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]},
         "statement Block denies"),
        (lambda p: {"Statement": [p["Statement"][1] | {"Resource": f"arn:aws:s3:::{BUCKET}/AWSLogs/999999999999/*"}]},
         "no statement allows"),
        (lambda p: {"Statement": [p["Statement"][1] | {"Condition": {"StringEquals": {
            "aws:SourceArn": f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/another"}}}]}, "no statement allows"),
    ],
)  # fmt: skip
def test_policies_that_stop_delivery(change: Callable[[dict[str, object]], dict[str, object]], words: str) -> None:
    refusal = delivery_allowed(change(cloudtrail_bucket_policy(BUCKET)), BUCKET, "AWSLogs/", ACCOUNT, TRAIL_ARN)
    assert refusal is not None and words in refusal, refusal


def test_a_deny_of_plain_http_only_does_not_stop_delivery() -> None:
    policy = cloudtrail_bucket_policy(BUCKET)
    policy["Statement"].append({"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                "Resource": f"arn:aws:s3:::{BUCKET}/*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}}})  # fmt: skip
    assert delivery_allowed(policy, BUCKET, "AWSLogs/", ACCOUNT, TRAIL_ARN) is None


def test_a_denying_bucket_policy_fails_delivery_before_cloudtrail_reports_it(settings: Settings) -> None:
    acct = compliant(REGIONS)
    deny = {"Version": "2012-10-17", "Statement": [{"Sid": "NoCloudTrail", "Effect": "Deny",
            "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}  # fmt: skip
    acct.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(deny))
    findings = run_audit(settings, regions=REGIONS).findings
    delivery = next(f for f in findings if f.check == "cloudtrail.trail_s3_delivery")
    assert delivery.status is Status.FAIL and "NoCloudTrail" in delivery.detail
    account = next(f for f in findings if f.check == "cloudtrail.multiregion_management_logging")
    assert account.status is Status.FAIL and "NoCloudTrail" in account.detail


def test_an_organization_trails_policy_is_judged_by_its_denies_only() -> None:
    """An organization trail writes under AWSLogs/<organization id>/, which DescribeTrails does not name."""
    org_only = {"Statement": [cloudtrail_bucket_policy(BUCKET)["Statement"][1]
                              | {"Resource": f"arn:aws:s3:::{BUCKET}/AWSLogs/o-exampleorg1/*"}]}  # fmt: skip
    trail = {"Name": "org", "S3BucketName": BUCKET, "IsOrganizationTrail": True}
    tf = TrailFacts(TRAIL_ARN, HOME, trail, status={"IsLogging": True}, bucket="exists", policy=org_only)
    assert trail_s3_delivery(tf).status is Status.PASS
    deny = {"Statement": [{"Sid": "Block", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                           "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}  # fmt: skip
    tf.policy = deny
    assert trail_s3_delivery(tf).status is Status.FAIL
    tf.trail, tf.policy = {**trail, "IsOrganizationTrail": False}, org_only
    assert trail_s3_delivery(tf).status is Status.FAIL  # an account's own trail: its path must be allowed


def test_an_unreadable_policy_is_error(settings: Settings, faults: Callable[..., Faults]) -> None:
    compliant(REGIONS)
    faults(deny={"s3:GetBucketPolicy"})
    f = finding(settings, "cloudtrail.trail_s3_delivery")
    assert f.status is Status.ERROR and "s3:GetBucketPolicy" in f.detail


# --- KMS ---------------------------------------------------------------------------------------------------


def _encrypted(settings: Settings) -> tuple[str, object]:
    acct = compliant(REGIONS)
    kms = acct.client("kms")
    key = kms.create_key(Description="trail logs")["KeyMetadata"]["Arn"]
    acct.client("cloudtrail").update_trail(Name=acct.trails["management"], KmsKeyId=key)
    return key, kms


@pytest.mark.parametrize(
    ("act", "words"),
    [("disable_key", "which is Disabled"), ("schedule_key_deletion", "which is scheduled for deletion")],
)
def test_an_unusable_key_fails_delivery_and_the_account(settings: Settings, act: str, words: str) -> None:
    key, kms = _encrypted(settings)
    assert finding(settings, "cloudtrail.trail_s3_delivery").status is Status.PASS
    getattr(kms, act)(KeyId=key.rsplit("/", 1)[-1])  # moto takes only the id here (AWS takes the ARN too)
    findings = run_audit(settings, regions=REGIONS).findings
    delivery = next(f for f in findings if f.check == "cloudtrail.trail_s3_delivery")
    assert delivery.status is Status.FAIL and words in delivery.detail, delivery.detail
    account = next(f for f in findings if f.check == "cloudtrail.multiregion_management_logging")
    assert account.status is Status.FAIL


def test_a_key_that_cannot_be_described_is_error(settings: Settings, faults: Callable[..., Faults]) -> None:
    _encrypted(settings)
    faults(deny={"kms:DescribeKey"})
    f = finding(settings, "cloudtrail.trail_s3_delivery")
    assert f.status is Status.ERROR and "kms:DescribeKey" in f.detail
    assert finding(settings, "cloudtrail.multiregion_management_logging").status is Status.ERROR


def test_days_that_cannot_be_read_count_as_the_soonest() -> None:
    """CloudTrail records a lifecycle body's days as text; a pushed record is outside text."""
    rule = {"ID": "odd", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": "soon"}}
    found = shortest_expiry([rule], "AWSLogs/")
    assert found is not None and found.days == 0
