"""A CloudTrail event as EventBridge pushes it (through SQS), read and turned into the change it announces.

Pure functions: `parse` reads a queue message's body (the EventBridge event, `detail` the CloudTrail record)
and says what is wrong with it when it is not a watched call; `change_of` maps a call that takes monitoring
away onto the regression the poller would find (same resource, same field, so the same alert key), from the
region's last known state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from workers.aws.event_history import WATCHED, ChangeEvent, parse_event
from workers.monitor import tampering
from workers.resources import watched

DETAIL_TYPE = "AWS API Call via CloudTrail"
SOURCES = {"aws.cloudtrail": "cloudtrail.amazonaws.com", "aws.config": "config.amazonaws.com",
           "aws.s3": "s3.amazonaws.com", "aws.kms": "kms.amazonaws.com", "aws.logs": "logs.amazonaws.com",
           "aws.cloudwatch": "monitoring.amazonaws.com", "aws.sns": "sns.amazonaws.com",
           "aws.organizations": "organizations.amazonaws.com"}  # fmt: skip
_ACCOUNT = re.compile(r"[0-9]{12}")

# the successful call -> the on/off field it turns off (the poller's regression of the same name), and the call
# that turns it back on: read from the poller's own tables
TURNS_OFF = {f.events[0]: (f.kind, f.name) for f in watched.FIELDS.values() if f.name in ("present", "logging",
             "recording")}  # fmt: skip
TURNS_ON = {tampering.UNDO[off][0]: field for off, field in TURNS_OFF.items()}
_PART = {name: kind.part for name, kind in watched.KINDS.items()}


@dataclass(frozen=True)
class Unreadable:
    """Why a queue message is not a watched CloudTrail call (it is logged, and left to the dead-letter queue)."""

    reason: str


def parse(body: str) -> ChangeEvent | Unreadable:
    """The watched call a queue message announces, or why it announces none."""
    try:
        event = json.loads(body)
    except ValueError:
        return Unreadable("not JSON")
    if not isinstance(event, dict):
        return Unreadable("not a JSON object")
    source, detail = event.get("source"), event.get("detail")
    if event.get("detail-type") != DETAIL_TYPE or source not in SOURCES or not isinstance(detail, dict):
        return Unreadable(f"not a CloudTrail API call event (source {str(source)[:40]!r})")
    if detail.get("eventSource") != SOURCES[str(source)]:
        return Unreadable("its source and its record's eventSource disagree")
    name = detail.get("eventName")
    if name not in WATCHED[SOURCES[str(source)]]:
        return Unreadable(f"{str(name)[:60]!r} is not a watched call")
    account = str(detail.get("recipientAccountId") or event.get("account") or "")  # the envelope names it too
    if not _ACCOUNT.fullmatch(account):
        return Unreadable("no recipientAccountId, and no account in the envelope")
    if not detail.get("eventID") or not isinstance(detail.get("awsRegion") or event.get("region"), str):
        return Unreadable("no eventID or region")
    region = str(detail.get("awsRegion") or event.get("region"))
    return parse_event({"CloudTrailEvent": json.dumps(detail)}, account, region)


def resource_of(event: ChangeEvent, kind: str, state: dict[str, Any]) -> str | None:
    """The resource of the region's known state that an event names (a trail by name or ARN)."""
    named = tampering.target(event)
    if not named:
        return None
    items = state.get(_PART[kind]) or {}
    if named in items:
        return named
    short = named.rsplit("/", 1)[-1]  # a trail or a key by its name or id, known by its ARN
    found = next((arn for arn in items if arn != "error" and arn.rsplit("/", 1)[-1] == short), None)
    # an alarm chain is known by its trail: a call names one of its links (its filter, alarm or topic)
    return found or next((key for key, item in items.items() if isinstance(item, dict)
                          and named in (item.get("names") or [])), None)  # fmt: skip


def change_of(event: ChangeEvent, state: dict[str, Any]) -> watched.Change | None:
    """The regression a successful call made, as the poller would report it, when the last known state holds
    the resource it names (otherwise the call is alerted as an event: see `tampering.event_alerts`).

    The call itself says the field was on a moment ago, whatever the last poll read (a poll may have read the
    trail before a fix started it, or not read its status at all): the alert is the state change, with its
    Restore, and the poller finds it open under the same key."""
    if event.failed:
        return None
    if event.name not in TURNS_OFF:
        return _set_by_call(event, state)
    kind, field = TURNS_OFF[event.name]
    resource = resource_of(event, kind, state)
    if resource is None:
        return None
    was = dict((state.get(_PART[kind]) or {}).get(resource) or {})
    if "error" in was:
        return None
    before, after = ("present", "missing") if field == "present" else (True, False)
    if field != "present":
        was[field] = True
    return watched.Change(event.account, event.region, kind, resource, field, before, after, was)


def _values_set(event: ChangeEvent, state: dict[str, Any]) -> Iterator[tuple[watched.Field, str, dict[str, Any], Any]]:
    """Each watched field a successful call sets on a resource of the region's known state: the field, the
    resource, its last known item, and the value the call sets (from its request parameters)."""
    for f in watched.FIELDS.values():
        if f.from_call is None or event.name not in f.events:
            continue
        resource = resource_of(event, f.kind, state)
        was = (state.get(_PART[f.kind]) or {}).get(resource) or {} if resource is not None else {}
        if resource is None or "error" in was:
            continue
        after = f.from_call(event.name, event.parameters or {}, was)
        if after is not None:
            yield f, resource, was, after[0]


def _set_by_call(event: ChangeEvent, state: dict[str, Any]) -> watched.Change | None:
    """The regression a call makes by the value it sets (management events, log file validation, a lifecycle
    rule, a key disabled...), against the region's last known state."""
    for f, resource, was, after in _values_set(event, state):
        if f.regressed(f.read(was), after):
            return watched.Change(event.account, event.region, f.kind, resource, f.name, f.read(was), after, was)
    return None


def harmless(event: ChangeEvent, state: dict[str, Any]) -> bool:
    """Whether a successful call sets a watched field of a known resource to a value that is no regression
    (a bucket policy that still lets CloudTrail write, a lifecycle rule that deletes nothing): not alerted."""
    return not event.failed and any(not f.regressed(f.read(was), after) for f, _, was, after in
                                    _values_set(event, state))  # fmt: skip


def undoes(event: ChangeEvent, alert: dict[str, Any]) -> bool:
    """Whether a successful call puts back what an open alert says was changed: it turns the field back on, or
    sets it to a value as good as the one it had."""
    if event.failed or alert.get("field") in ("attempt", "event") or alert.get("kind") not in watched.KINDS:
        return False
    named = tampering.target(event)
    if not named or named.rsplit("/", 1)[-1] not in (alert["resource"], str(alert["resource"]).rsplit("/", 1)[-1]):
        return False
    if TURNS_ON.get(event.name) == (alert.get("kind"), alert.get("field")):
        return True
    f = watched.FIELDS.get((str(alert["kind"]), str(alert["field"])))
    now = f.from_call(event.name, event.parameters or {}, alert.get("snapshot") or {}) if f and f.from_call else None
    return now is not None and f is not None and f.recovered(alert["before"], now[0])
