"""Alerts from CloudTrail events alone: a tamper whose state had recovered by the next poll (stop, act,
restart: the classic evasion), and a failed attempt. One alert per event id, whoever sees it first.

Pure functions over parsed events; `watch` commits what they return together with the events' ids.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from workers.aws.event_history import ChangeEvent
from workers.core.mrkdwn import code, escape
from workers.resources.bucket import lifecycle_call
from workers.resources.recorder import covers_trails
from workers.resources.selectors import coverage, from_request

# the watched writes that can take monitoring away, and the calls that give it back
TAMPER = (
    "StopLogging",
    "DeleteTrail",
    "PutEventSelectors",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
    "DeleteDeliveryChannel",
    "UpdateTrail",
    "PutConfigurationRecorder",
    "PutBucketLifecycle",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "DeleteBucket",
    "DisableKey",
    "ScheduleKeyDeletion",
    "PutKeyPolicy",
    "DisassociateResourceTypes",
    "DeleteServiceLinkedConfigurationRecorder",
    "DeleteMetricFilter",
    "PutMetricFilter",
    "DeleteAlarms",
    "DisableAlarmActions",
    "PutMetricAlarm",
    "DeleteTopic",
    "Unsubscribe",
    "LeaveOrganization",
    "RemoveAccountFromOrganization",
)
UNDO = {
    "StopLogging": ("StartLogging",),
    "DeleteTrail": ("CreateTrail",),
    "PutEventSelectors": ("PutEventSelectors",),
    "StopConfigurationRecorder": ("StartConfigurationRecorder",),
    "DeleteConfigurationRecorder": ("PutConfigurationRecorder",),
    "DeleteDeliveryChannel": ("PutDeliveryChannel",),
    "UpdateTrail": ("UpdateTrail",),
    "PutConfigurationRecorder": ("PutConfigurationRecorder",),
    "PutBucketLifecycle": ("PutBucketLifecycle", "DeleteBucketLifecycle"),
    "PutBucketPolicy": ("PutBucketPolicy",),
    "DeleteBucketPolicy": ("PutBucketPolicy",),
    "DeleteBucket": (),
    "DisableKey": ("EnableKey",),
    "ScheduleKeyDeletion": ("CancelKeyDeletion",),
    "PutKeyPolicy": ("PutKeyPolicy",),
    "DisassociateResourceTypes": ("AssociateResourceTypes",),
    "DeleteServiceLinkedConfigurationRecorder": (),
    "DeleteMetricFilter": ("PutMetricFilter",),
    "PutMetricFilter": ("PutMetricFilter",),
    "DeleteAlarms": ("PutMetricAlarm",),
    "DisableAlarmActions": ("EnableAlarmActions",),
    "PutMetricAlarm": ("PutMetricAlarm",),
    "DeleteTopic": (),
    "Unsubscribe": (),
    "LeaveOrganization": (),
    "RemoveAccountFromOrganization": (),
}
_NAME_KEYS = ("name", "trailName", "configurationRecorderName", "deliveryChannelName", "bucketName", "keyId",
              "filterName", "alarmName", "topicArn", "accountId")  # fmt: skip
# sources whose calls matter only on a trail's bucket, key or alarm chain: where the region's state names them
_LINKS = {"s3.amazonaws.com": "buckets", "kms.amazonaws.com": "keys", "logs.amazonaws.com": "chains",
          "monitoring.amazonaws.com": "chains", "sns.amazonaws.com": "chains"}  # fmt: skip


def at(event: ChangeEvent) -> float:
    """An event's time as epoch seconds (0 when CloudTrail gave none we can read)."""
    try:
        return dt.datetime.fromisoformat(event.time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def target(event: ChangeEvent) -> str:
    """The resource an event names (a trail's name or ARN, a recorder or channel name)."""
    params = event.parameters or {}
    for key in _NAME_KEYS:
        if params.get(key):
            return str(params[key])
    names = params.get("alarmNames")  # DeleteAlarms, DisableAlarmActions: a list
    if isinstance(names, list) and names:
        return str(names[0])
    if params.get("subscriptionArn"):  # arn:aws:sns:<region>:<account>:<topic>:<id>
        return str(params["subscriptionArn"]).rsplit(":", 1)[0]
    arn = str(params.get("configurationRecorderArn") or "")  # arn:...:configuration-recorder/<name>/<id>
    if "configuration-recorder/" in arn:
        return arn.split("configuration-recorder/", 1)[1].split("/", 1)[0]
    recorder = params.get("configurationRecorder") or params.get("deliveryChannel") or {}
    return str(recorder.get("name", "")) if isinstance(recorder, dict) else ""


def concerns(event: ChangeEvent, state: dict[str, Any]) -> bool:
    """Whether a watched call is about something a trail depends on: every CloudTrail and Config call is; an S3
    or KMS call only on a bucket or key that a trail of the region's known state uses (by name, ARN or id)."""
    part = _LINKS.get(event.source)
    if part is None:
        return True
    named = target(event)
    known = state.get(part) or {}
    if part == "chains":  # a chain is known by its trail; the names of its links are in it
        return bool(named) and any(named in (item.get("names") or []) for item in known.values()
                                   if isinstance(item, dict))  # fmt: skip
    return bool(named) and any(named in (name, name.rsplit("/", 1)[-1]) for name in known if name != "error")


def takes_away(event: ChangeEvent) -> bool:
    """Whether a successful watched call reduces what is recorded (a PutEventSelectors that still selects
    every management event, or an UpdateTrail that only renames a prefix, does not)."""
    if event.failed or event.name not in TAMPER:
        return False
    params = event.parameters or {}
    if event.name == "PutEventSelectors":
        return not coverage(from_request(params)).complete
    if event.name == "PutConfigurationRecorder":
        recorder = params.get("configurationRecorder") or {}
        return not covers_trails(recorder.get("recordingGroup") or {})
    if event.name == "PutBucketLifecycle":
        return (lifecycle_call(event.name, params) or (None,))[0] is not None
    if event.name == "UpdateTrail":
        return (
            params.get("isMultiRegionTrail") is False
            or params.get("enableLogFileValidation") is False
            or "s3BucketName" in params
            or "cloudWatchLogsLogGroupArn" in params
        )
    return True


def event_alerts(
    account: str,
    region: str,
    fresh: list[ChangeEvent],
    events: list[ChangeEvent],
    watching_since: float,
    actions: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """An alert for each new watched event that took monitoring away and that no state alert explains
    (its change was undone before a poll could see it), naming the call that undid it, if any."""
    out = []
    for event in fresh:
        if not takes_away(event) or at(event) < watching_since:
            continue
        if _approved(event, account, region, actions):
            continue  # trail-audit's own approved action: in the audit log, and no page for it
        undo = _undone_by(event, events)
        name = target(event) or "?"
        story = f"*What* {escape(event.name)} on {code(name)} at {escape(event.time)}"
        story += (
            f"; undone by {escape(undo.name)} from {code(undo.actor)} at {escape(undo.time)}"
            if undo
            else "; not seen undone yet"
        )
        out.append(
            {
                "account": account,
                "region": region,
                "kind": "event",
                "resource": name,
                "field": "event",
                "key": f"event|{event.event_id}",
                "title": f"{event.name} on {name.rsplit('/', 1)[-1]} by {event.actor}",
                "before": None,
                "after": None,
                "snapshot": {},
                "restorable": False,
                "attribution": event.to_dict(),
                "approved": None,
                "story": story,
            }
        )
    return out


def attempts(account: str, region: str, fresh: list[ChangeEvent]) -> list[dict[str, Any]]:
    """An alert for each new failed attempt at a watched call: it still matters."""
    out = []
    for e in fresh:
        if not e.failed:
            continue
        out.append(
            {
                "account": account,
                "region": region,
                "kind": "attempt",
                "resource": json.dumps(e.parameters or {})[:200],
                "field": "attempt",
                "key": f"attempt|{e.event_id}",
                "title": f"{e.name} refused ({e.error_code})",
                "before": None,
                "after": None,
                "snapshot": {},
                "restorable": False,
                "attribution": e.to_dict(),
                "approved": None,
            }
        )
    return out


def _undone_by(event: ChangeEvent, events: list[ChangeEvent]) -> ChangeEvent | None:
    name, when = target(event), at(event)
    short = name.rsplit("/", 1)[-1]
    later = [
        e
        for e in events
        if e.name in UNDO.get(event.name, ())
        and not e.failed
        and at(e) >= when
        and e.event_id != event.event_id
        and target(e).rsplit("/", 1)[-1] == short
        and not takes_away(e)
    ]
    return min(later, key=at) if later else None


def _approved(event: ChangeEvent, account: str, region: str, actions: list[dict[str, Any]]) -> bool:
    short = target(event).rsplit("/", 1)[-1]
    for action in actions:
        same = action["account"] == account and action["region"] == region
        restored = {str(r[1]).rsplit("/", 1)[-1] for r in action.get("restored") or []}
        # a Restore explains calls on what it put back; any other action, calls on its resource or its region
        explains = short in restored if restored else str(action["resource"]).rsplit("/", 1)[-1] in (short, region)
        if same and explains and action["started"] - 5 <= at(event) <= action["ended"] + 5:
            return True
    return False
