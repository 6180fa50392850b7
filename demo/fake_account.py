"""A fake AWS account in a moto server: a compliant baseline, and the realistic problems the demo shows.

Everything here goes through boto3 and `AWS_ENDPOINT_URL`, exactly as it would against AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

ACCOUNT = "123456789012"
HOME = "us-east-1"
BUCKET = "org-cloudtrail-logs"
LOG_GROUP = "cloudtrail/management"
TOPIC = "security-alerts"
CIS_PATTERN = (
    "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
    "($.eventName = StartLogging) || ($.eventName = StopLogging) }"
)
CONFIG_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-config-role"


def cloudtrail_bucket_policy(bucket: str, account: str = ACCOUNT) -> dict[str, Any]:
    """The bucket policy AWS documents for a trail's bucket: CloudTrail may read its ACL and put its logs."""
    service = {"Service": "cloudtrail.amazonaws.com"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": service, "Action": "s3:GetBucketAcl",
             "Resource": f"arn:aws:s3:::{bucket}"},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": service, "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{account}/*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
        ],
    }  # fmt: skip


@dataclass
class FakeAccount:
    """Clients on the fake account, and what was created in it."""

    session: boto3.Session = field(default_factory=boto3.Session)
    trails: dict[str, str] = field(default_factory=dict)  # name -> ARN

    def client(self, service: str, region: str = HOME) -> Any:
        """A boto3 client in a region."""
        return self.session.client(service, region_name=region)

    # --- CloudTrail -----------------------------------------------------------------------------------

    def bucket(self, name: str = BUCKET, region: str = HOME) -> str:
        """An S3 bucket for trail logs, with the policy AWS documents for CloudTrail's delivery."""
        s3 = self.client("s3", region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(cloudtrail_bucket_policy(name)))
        return name

    def trail(
        self,
        name: str,
        region: str = HOME,
        bucket: str = BUCKET,
        multi_region: bool = True,
        logging: bool = True,
        validation: bool = True,
        log_group: str | None = None,
    ) -> str:
        """A trail; returns its ARN."""
        ct = self.client("cloudtrail", region)
        params: dict[str, Any] = {
            "Name": name,
            "S3BucketName": bucket,
            "IsMultiRegionTrail": multi_region,
            "EnableLogFileValidation": validation,
        }
        if log_group:
            params["CloudWatchLogsLogGroupArn"] = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{log_group}:*"
            params["CloudWatchLogsRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-cloudwatch"
        arn: str = ct.create_trail(**params)["TrailARN"]
        if logging:
            ct.start_logging(Name=arn)
        self.trails[name] = arn
        return arn

    def cis_alarm(
        self,
        region: str = HOME,
        pattern: str = CIS_PATTERN,
        subscribe: bool = True,
        with_alarm: bool = True,
        actions_enabled: bool = True,
        topic_deleted: bool = False,
    ) -> str:
        """The CIS 4.5 metric filter on the log group, an alarm on it, and an SNS topic; returns the topic."""
        logs = self.client("logs", region)
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.put_metric_filter(
            logGroupName=LOG_GROUP,
            filterName="cloudtrail-config-changes",
            filterPattern=pattern,
            metricTransformations=[
                {"metricName": "CloudTrailConfigChanges", "metricNamespace": "CISBenchmark", "metricValue": "1"}
            ],
        )
        topic: str = self.client("sns", region).create_topic(Name=TOPIC)["TopicArn"]
        if subscribe:
            self.client("sns", region).subscribe(
                TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{region}:{ACCOUNT}:oncall"
            )
        if with_alarm:
            self.client("cloudwatch", region).put_metric_alarm(
                AlarmName="cloudtrail-config-changes",
                MetricName="CloudTrailConfigChanges",
                Namespace="CISBenchmark",
                Statistic="Sum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                AlarmActions=[topic],
                ActionsEnabled=actions_enabled,
            )
        if topic_deleted:
            self.client("sns", region).delete_topic(TopicArn=topic)
        return topic

    # --- AWS Config -----------------------------------------------------------------------------------

    def recorder(
        self,
        region: str,
        group: dict[str, Any] | None = None,
        channel: bool = True,
        start: bool = True,
        name: str = "default",
    ) -> None:
        """A configuration recorder (all supported types by default), its delivery channel, started."""
        cfg = self.client("config", region)
        cfg.put_configuration_recorder(
            ConfigurationRecorder={
                "name": name,
                "roleARN": CONFIG_ROLE,
                "recordingGroup": group or {"allSupported": True, "includeGlobalResourceTypes": False},
            }
        )
        if channel:
            cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": BUCKET})
        if start and channel:
            cfg.start_configuration_recorder(ConfigurationRecorderName=name)


def compliant(regions: list[str]) -> FakeAccount:
    """An account that passes every check in `regions`: the baseline tests break one thing at a time."""
    acct = FakeAccount()
    acct.bucket()
    acct.trail("management", log_group=LOG_GROUP)
    acct.cis_alarm()
    for region in regions:
        acct.recorder(region)
    return acct


def demo_account(regions: list[str]) -> FakeAccount:
    """The demo's account: a realistic mix of what audits find."""
    acct = FakeAccount()
    acct.bucket()
    acct.trail("management", log_group=LOG_GROUP)  # good, multi-region, CIS alarm below
    acct.cis_alarm(pattern=CIS_PATTERN.replace(" || ($.eventName = StopLogging)", ""))  # misses StopLogging
    stopped = acct.trail("app-audit", multi_region=False, validation=False, logging=False)
    ct = acct.client("cloudtrail")
    ct.put_event_selectors(
        TrailName=stopped,
        EventSelectors=[
            {
                "ReadWriteType": "ReadOnly",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payments-data/"]}],
            },
        ],
    )
    acct.bucket("legacy-log-bucket-2019")
    acct.trail("legacy-eu", region="eu-west-1", multi_region=False, bucket="legacy-log-bucket-2019")
    acct.client("s3").delete_bucket(Bucket="legacy-log-bucket-2019")  # someone cleaned up the wrong bucket
    for i, region in enumerate(regions):
        if i == 1:
            acct.recorder(
                region,
                group={
                    "allSupported": False,
                    "resourceTypes": ["AWS::S3::Bucket"],
                    "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"},
                },
            )
        elif i == 2:
            acct.recorder(region, start=False)
        elif i < 2 or i % 3:
            acct.recorder(region)
    return acct


def to_json(value: Any) -> str:
    """Compact JSON (for printing seeded state)."""
    return json.dumps(value, default=str, sort_keys=True)
