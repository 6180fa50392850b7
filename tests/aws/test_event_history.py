"""LookupEvents: every watched name, paginated, attributed, failed attempts kept, rate-limited.

moto has no LookupEvents, so these use botocore's Stubber with realistic records.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.helpers.cloudtrail_records import record
from workers.aws.errors import ApiError
from workers.aws.event_history import RECORDING_NAMES, RateLimiter, lookup_changes

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
START = NOW - dt.timedelta(hours=24)


class NoWait:
    def acquire(self, key: str) -> float:
        return 0.0


def params(name: str, token: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
        "StartTime": START,
        "EndTime": NOW,
        "MaxResults": 50,
    }
    if token:
        p["NextToken"] = token
    return p


@pytest.fixture
def client() -> Any:
    return boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_every_watched_name_is_queried_and_pages_are_followed(client: Any) -> None:
    stopped = record("StopLogging", NOW - dt.timedelta(minutes=5), actor="mallory", ip="203.0.113.66")
    failed = record("DeleteTrail", NOW - dt.timedelta(minutes=4), actor="mallory", error="AccessDenied")
    narrowed = record(
        "PutEventSelectors",
        NOW - dt.timedelta(minutes=3),
        params={
            "trailName": "management",
            "eventSelectors": [{"readWriteType": "ReadOnly", "includeManagementEvents": True}],
        },
    )
    older = record("StopLogging", NOW - dt.timedelta(hours=20), actor="bob")
    with Stubber(client) as stub:
        for name in RECORDING_NAMES:
            if name == "StopLogging":
                stub.add_response("lookup_events", {"Events": [stopped], "NextToken": "page2"}, params(name))
                stub.add_response("lookup_events", {"Events": [older]}, params(name, "page2"))
            elif name == "DeleteTrail":
                stub.add_response("lookup_events", {"Events": [failed]}, params(name))
            elif name == "PutEventSelectors":
                stub.add_response("lookup_events", {"Events": [narrowed]}, params(name))
            else:
                stub.add_response("lookup_events", {"Events": []}, params(name))
        events = lookup_changes(client, "123456789012", "us-east-1", START, NOW, NoWait())
        stub.assert_no_pending_responses()
    assert not isinstance(events, ApiError)
    assert [e.name for e in events] == ["PutEventSelectors", "DeleteTrail", "StopLogging", "StopLogging"]
    stop = events[2]
    assert stop.actor == "arn:aws:sts::123456789012:assumed-role/PlatformAdmin/mallory"
    assert (stop.source_ip, stop.actor_type, stop.failed) == ("203.0.113.66", "AssumedRole", False)
    assert stop.user_agent.startswith("aws-cli/2.17.20")
    delete = events[1]
    assert delete.failed and delete.error_code == "AccessDenied" and delete.to_dict()["failed"] is True
    assert events[0].parameters["eventSelectors"][0]["readWriteType"] == "ReadOnly"


def test_lookup_error_is_reported_not_raised(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("lookup_events", "AccessDeniedException", "not authorized", 400, expected_params=None)
        answer = lookup_changes(client, "123456789012", "us-east-1", START, NOW, NoWait())
    assert isinstance(answer, ApiError)
    assert answer.action == "cloudtrail:LookupEvents" and "cloudtrail:LookupEvents" in answer.sentence()


def test_rate_limiter_spaces_calls_per_key_across_threads() -> None:
    limiter = RateLimiter(rate=2.0, clock=lambda: 100.0, sleep=lambda _s: None)  # time stands still
    lock = threading.Lock()
    granted: dict[str, list[float]] = {"a": [], "b": []}

    def take(key: str) -> None:
        slot = 100.0 + limiter.acquire(key)
        with lock:
            granted[key].append(slot)

    threads = [threading.Thread(target=take, args=(k,)) for k in ["a"] * 10 + ["b"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, n in (("a", 10), ("b", 4)):
        slots = sorted(granted[key])
        assert slots[0] == 100.0 and len(slots) == n
        assert all(later - earlier >= 0.5 - 1e-9 for earlier, later in itertools.pairwise(slots))


def test_rate_limiter_really_waits() -> None:
    slept: list[float] = []
    limiter = RateLimiter(rate=20.0, clock=lambda: 7.0, sleep=slept.append)  # five calls at the same instant
    waits = [limiter.acquire("k") for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20]) and slept == pytest.approx(waits[1:])
