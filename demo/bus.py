"""A stand-in for EventBridge's part of the pushed event path, on moto: the rule of
deploy/events/single-account.yaml from the default bus to an SQS queue, and a CloudTrail call put on the bus
as AWS puts it there (source `aws.cloudtrail`, `aws.config`, `aws.s3` or `aws.kms`, `detail` the CloudTrail
record)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from demo.fake_account import ACCOUNT, HOME, FakeAccount
from workers.aws.event_history import WATCHED_NAMES
from workers.monitor.pushed import SOURCES


def event_queue(fake: FakeAccount, name: str = "trail-audit-events") -> str:
    """The queue and the rule that fills it with the watched calls; returns the queue's URL."""
    sqs, events = fake.client("sqs"), fake.client("events")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": list(SOURCES), "detail-type": ["AWS API Call via CloudTrail"],
               "detail": {"eventName": list(WATCHED_NAMES)}}  # fmt: skip
    events.put_rule(Name="trail-audit-events", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="trail-audit-events", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def call(
    name: str, user: str, ip: str, params: dict[str, Any], region: str = HOME, source: str = "cloudtrail.amazonaws.com"
) -> dict[str, Any]:
    """The CloudTrail record of a successful call by an IAM user."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT, "userName": user,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accessKeyId": "AKIAEXAMPLE"},
        "eventTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": region, "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.17.20 md/awscrt#0.20.11 os/linux#6.8", "requestParameters": params,
        "responseElements": None, "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }  # fmt: skip


def source_of(record: dict[str, Any]) -> str:
    """The EventBridge source of a CloudTrail record (`aws.cloudwatch` for monitoring.amazonaws.com's calls)."""
    return next(source for source, service in SOURCES.items() if service == record["eventSource"])


def envelope(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event of a CloudTrail call, as an SQS queue receives it (`detail` is the record)."""
    source = source_of(record)
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail", "source": source,
            "account": record["recipientAccountId"], "time": record["eventTime"], "region": record["awsRegion"],
            "resources": [], "detail": record}  # fmt: skip


def put(fake: FakeAccount, record: dict[str, Any]) -> None:
    """Put a CloudTrail call on the default bus of its region, as AWS does."""
    entry = {"Source": source_of(record), "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(record)}
    fake.client("events", record["awsRegion"]).put_events(Entries=[entry])
