"""Recent changes to CloudTrail and AWS Config, from `LookupEvents`, with who, where and whether it failed.

`LookupEvents` takes one lookup attribute a call, covers 90 days, returns at most 50 events a page and
allows about 2 requests a second per account and region: every call waits on a `RateLimiter`.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from workers.aws.accounts import Account
from workers.aws.errors import AWS_ERRORS, ApiError, from_exception

WATCHED: dict[str, tuple[str, ...]] = {
    "cloudtrail.amazonaws.com": (
        "CreateTrail",
        "UpdateTrail",
        "DeleteTrail",
        "StartLogging",
        "StopLogging",
        "PutEventSelectors",
        "PutInsightSelectors",
    ),
    "config.amazonaws.com": (
        "PutConfigurationRecorder",
        "DeleteConfigurationRecorder",
        "StopConfigurationRecorder",
        "StartConfigurationRecorder",
        "PutDeliveryChannel",
        "DeleteDeliveryChannel",
        "AssociateResourceTypes",  # the 2024 recorder API
        "DisassociateResourceTypes",
        "DeleteServiceLinkedConfigurationRecorder",
    ),
    # on a trail's log bucket and its KMS key (calls on other buckets and keys are ignored: `tampering.concerns`)
    "s3.amazonaws.com": (
        "PutBucketLifecycle",
        "DeleteBucketLifecycle",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "DeleteBucket",
    ),
    # the CIS alarm chain of a trail: its metric filter, alarm and topic (`tampering.concerns` as above)
    "logs.amazonaws.com": ("PutMetricFilter", "DeleteMetricFilter"),
    "monitoring.amazonaws.com": ("PutMetricAlarm", "DeleteAlarms", "DisableAlarmActions", "EnableAlarmActions"),
    "sns.amazonaws.com": ("DeleteTopic", "Unsubscribe"),
    # an account leaving the organization takes it out of the organization trail
    "organizations.amazonaws.com": ("LeaveOrganization", "RemoveAccountFromOrganization"),
    "kms.amazonaws.com": (
        "DisableKey",
        "EnableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "PutKeyPolicy",
    ),
}
WATCHED_NAMES: tuple[str, ...] = tuple(name for names in WATCHED.values() for name in names)
# what `events` (the audit's section, the CLI's command) asks for, one query a name: the recording's own
# switches; the chain's calls are read by the monitor's one query of every write (`recent_writes`)
RECORDING_NAMES: tuple[str, ...] = (*WATCHED["cloudtrail.amazonaws.com"], *WATCHED["config.amazonaws.com"])

LOOKUP_RATE = 2.0  # requests a second, per account and region
PAGE_SIZE = 50
LOOKUP_ATTEMPTS = 3  # the limiter keeps us under the rate; long backoff would only delay the report


class Limiter(Protocol):
    """Something that makes a caller wait for its turn under a key."""

    def acquire(self, key: str) -> float:
        """Block until a call under `key` is allowed; returns the seconds waited."""


class RateLimiter:
    """Spaces calls under one key at least 1/rate seconds apart, across the threads of this process."""

    def __init__(
        self,
        rate: float = LOOKUP_RATE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self, key: str) -> float:
        """Wait for this key's next slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
        return slot - now


@dataclass(frozen=True)
class ChangeEvent:
    """One watched API call, as CloudTrail recorded it."""

    time: str
    name: str
    source: str
    account: str
    region: str
    actor: str
    actor_type: str
    source_ip: str
    user_agent: str
    error_code: str | None
    error_message: str | None
    parameters: dict[str, Any] | None
    event_id: str

    @property
    def failed(self) -> bool:
        """A refused or failed attempt: it still matters."""
        return self.error_code is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "failed": self.failed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeEvent:
        """Back from the JSON form (an alert's attribution)."""
        fields: dict[str, Any] = {f: data.get(f) for f in cls.__dataclass_fields__}
        return cls(**fields)


def parse_event(raw: dict[str, Any], account: str, region: str) -> ChangeEvent:
    """A `LookupEvents` item (its `CloudTrailEvent` JSON string holds the full record)."""
    record: dict[str, Any] = {}
    if raw.get("CloudTrailEvent"):
        try:
            record = json.loads(raw["CloudTrailEvent"])
        except ValueError:
            record = {}
    identity = record.get("userIdentity") or {}
    when = raw.get("EventTime") or record.get("eventTime") or ""
    if isinstance(when, dt.datetime):
        when = when.astimezone(dt.UTC).isoformat()
    actor = identity.get("arn") or raw.get("Username") or identity.get("invokedBy") or "unknown"
    return ChangeEvent(
        time=str(when),
        name=str(raw.get("EventName") or record.get("eventName") or ""),
        source=str(raw.get("EventSource") or record.get("eventSource") or ""),
        account=str(record.get("recipientAccountId") or account),
        region=str(record.get("awsRegion") or region),
        actor=str(actor),
        actor_type=str(identity.get("type") or "unknown"),
        source_ip=str(record.get("sourceIPAddress") or "unknown"),
        user_agent=str(record.get("userAgent") or "unknown"),
        error_code=record.get("errorCode"),
        error_message=record.get("errorMessage"),
        parameters=record["requestParameters"] if isinstance(record.get("requestParameters"), dict) else None,
        event_id=str(raw.get("EventId") or record.get("eventID") or ""),
    )


def _query(
    client: Any,
    key: str,
    attribute: dict[str, str],
    start: dt.datetime,
    end: dt.datetime,
    limiter: Limiter,
    max_pages: int | None = None,
) -> tuple[list[dict[str, Any]], bool] | ApiError:
    """Every item of one paginated LookupEvents query, each page waiting its turn under `key`, and whether
    `max_pages` cut it short (more events were there)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"LookupAttributes": [attribute], "StartTime": start, "EndTime": end,
                                  "MaxResults": PAGE_SIZE}  # fmt: skip
        if token:
            params["NextToken"] = token
        limiter.acquire(key)
        try:
            page = client.lookup_events(**params)
        except AWS_ERRORS as exc:
            return from_exception("cloudtrail", "LookupEvents", exc)
        items.extend(page.get("Events", []))
        token, pages = page.get("NextToken"), pages + 1
        if not token:
            return items, False
        if max_pages is not None and pages >= max_pages:
            return items, True


def lookup_changes(
    client: Any,
    account: str,
    region: str,
    start: dt.datetime,
    end: dt.datetime,
    limiter: Limiter,
    names: tuple[str, ...] = RECORDING_NAMES,
) -> list[ChangeEvent] | ApiError:
    """Every watched change in [start, end) in one region, newest first; or the first error met.

    One query per event name (LookupEvents takes a single attribute), each paginated, each page a call
    that waits its turn under the account-and-region key.
    """
    events: list[ChangeEvent] = []
    for name in names:
        items = _query(client, f"{account}:{region}", {"AttributeKey": "EventName", "AttributeValue": name},
                       start, end, limiter)  # fmt: skip
        if isinstance(items, ApiError):
            return items
        events.extend(parse_event(item, account, region) for item in items[0])
    events.sort(key=lambda e: e.time, reverse=True)
    return events


def recent_writes(
    client: Any,
    account: str,
    region: str,
    start: dt.datetime,
    end: dt.datetime,
    limiter: Limiter,
    max_pages: int | None = None,
) -> tuple[list[ChangeEvent], bool] | ApiError:
    """The watched calls among every write event in [start, end) in one region (one query, paginated), and
    whether the read was cut at `max_pages` (the newest events are read first; older ones were left).

    The monitor asks every cycle; one `ReadOnly=false` query costs one call a page, where a query per
    watched name would cost thirteen. `max_pages` bounds a busy account's cost.
    """
    found = _query(client, f"{account}:{region}", {"AttributeKey": "ReadOnly", "AttributeValue": "false"},
                   start, end, limiter, max_pages)  # fmt: skip
    if isinstance(found, ApiError):
        return found
    items, truncated = found
    events = [parse_event(item, account, region) for item in items if item.get("EventName") in WATCHED_NAMES]
    events.sort(key=lambda e: e.time, reverse=True)
    return events, truncated


def account_changes(
    account: Account, region: str, hours: int, limiter: Limiter, now: dt.datetime | None = None
) -> list[ChangeEvent] | ApiError:
    """Watched changes of the last `hours` in one region of an account."""
    end = now or dt.datetime.now(dt.UTC)
    client = account.client("cloudtrail", region, max_attempts=LOOKUP_ATTEMPTS)
    return lookup_changes(client, account.id, region, end - dt.timedelta(hours=hours), end, limiter)


@dataclass
class EventsReport:
    """The `events` section of an audit: what changed, and where the lookup failed."""

    hours: int
    events: list[ChangeEvent]
    errors: list[tuple[str, str, ApiError]]  # (account, region, error)

    @property
    def status(self) -> str:
        """OK when every region answered; ERROR otherwise (the events found are still listed)."""
        return "ERROR" if self.errors else "OK"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "status": self.status,
            "hours": self.hours,
            "events": [e.to_dict() for e in self.events],
            "errors": [{"account": a, "region": r, "detail": e.sentence(), **e.to_dict()} for a, r, e in self.errors],
        }
