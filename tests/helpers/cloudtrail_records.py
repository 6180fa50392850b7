"""Realistic CloudTrail records, as LookupEvents returns them (the full record is a JSON string)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from demo.bus import envelope

ACCOUNT = "123456789012"
_SOURCES = {**{n: "s3.amazonaws.com" for n in ("PutBucketLifecycle", "DeleteBucketLifecycle", "PutBucketPolicy",
                                               "DeleteBucketPolicy", "DeleteBucket")},
            **{n: "kms.amazonaws.com" for n in ("DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
                                                "PutKeyPolicy")},
            "PutMetricFilter": "logs.amazonaws.com", "DeleteMetricFilter": "logs.amazonaws.com",
            **{n: "monitoring.amazonaws.com" for n in ("PutMetricAlarm", "DeleteAlarms", "DisableAlarmActions",
                                                       "EnableAlarmActions")},
            "DeleteTopic": "sns.amazonaws.com", "Unsubscribe": "sns.amazonaws.com"}  # fmt: skip


def stratus_lifecycle(bucket: str) -> dict[str, Any]:
    """The request parameters CloudTrail records for Stratus Red Team's cloudtrail-lifecycle-rule (the XML body
    turned to JSON: one `Rule`)."""
    return {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "lifecycle": "",
            "LifecycleConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "Rule": {
                "ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Expiration": {"Days": "1"}}}}  # fmt: skip


def record(
    name: str,
    when: dt.datetime,
    region: str = "us-east-1",
    actor: str = "alice",
    ip: str = "198.51.100.23",
    error: str | None = None,
    params: dict[str, Any] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """A LookupEvents item for one API call."""
    source = source or _SOURCES.get(name) or (
        "config.amazonaws.com" if "Configuration" in name or "Delivery" in name else "cloudtrail.amazonaws.com"
    )
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}{when.isoformat()}{actor}"))
    full: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA3EXAMPLEID:{actor}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/{actor}",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLEKEY",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin",
                    "userName": "PlatformAdmin",
                },
                "attributes": {"creationDate": when.isoformat(), "mfaAuthenticated": "true"},
            },
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.8 md/arch#x86_64",
        "requestParameters": params if params is not None else {"name": "management"},
        "responseElements": None if error else {},
        "requestID": str(uuid.uuid4()),
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    if error:
        full["errorCode"] = error
        full["errorMessage"] = f"User: {full['userIdentity']['arn']} is not authorized to perform: {name}"
    return {
        "EventId": event_id,
        "EventName": name,
        "ReadOnly": "false",
        "AccessKeyId": "ASIAEXAMPLEKEY",
        "EventTime": when,
        "EventSource": source,
        "Username": actor,
        "Resources": [{"ResourceType": "AWS::CloudTrail::Trail", "ResourceName": "management"}],
        "CloudTrailEvent": json.dumps(full),
    }


def pushed(name: str, when: dt.datetime | None = None, **kwargs: Any) -> str:
    """The same call as EventBridge delivers it to an SQS queue: the event, `detail` the CloudTrail record."""
    when = when or dt.datetime.now(dt.UTC)
    return json.dumps(envelope(json.loads(record(name, when, **kwargs)["CloudTrailEvent"])))
