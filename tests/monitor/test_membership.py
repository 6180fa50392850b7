"""An account that leaves the organization, on moto's Organizations and a real Redis: the monitor's cycle alerts
it once (two clocks, two cycles), names the organization trail that no longer covers it, `status` says so
until the account is listed again; the calls themselves are watched."""

from __future__ import annotations

import json

import boto3
import pytest
from redis import Redis

from demo.fake_account import ACCOUNT, HOME
from demo.servers import Moto
from tests.audit.test_organization import org_with, settings_with
from tests.helpers.cloudtrail_records import pushed
from workers.monitor import pushed as reading
from workers.monitor import tampering
from workers.monitor.status import status_lines
from workers.monitor.watch import cycle
from workers.state import alert_records, keys, monitor_records

ORG_TRAIL = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/organization"


def test_an_account_the_organization_no_longer_lists_is_alerted_once(
    aws: Moto, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, ids = org_with(2)
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit", TRAIL_AUDIT_ALERT_CHANNEL="C0A")
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    for account in [ACCOUNT, *ids]:  # each was watched by an earlier cycle
        monitor_records.record_cycle(conn, account, {"account": account, "at": 0, "seconds": 1.0, "calls": 1,
                                                     "regions": 1})  # fmt: skip
    conn.set(keys.region_state(ACCOUNT, HOME), json.dumps({"at": 0, "state": {"trails": {ORG_TRAIL: {
        "logging": True, "config": {"Name": "organization", "IsOrganizationTrail": True}}}}}))  # fmt: skip
    assert cycle(settings, conn) == 3
    assert alert_records.open_alerts(conn) == []  # everyone is still listed
    boto3.client("organizations", region_name=HOME).remove_account_from_organization(AccountId=ids[0])
    cycle(settings, conn)
    cycle(settings, conn)  # a second clock, or the next interval: nothing new
    [doc] = [d for d in alert_records.open_alerts(conn) if d["field"] == "membership"]
    assert doc["account"] == ids[0] and doc["title"] == f"Account {ids[0]} left the organization"
    assert "`organization` no longer covers it" in doc["story"]
    assert ids[0] not in monitor_records.cycles(conn)
    said = "\n".join(status_lines(conn))
    assert f"Account {ids[0]} left the organization" in said and "organization no longer covers it" in said


def test_leaving_and_removing_are_watched_calls() -> None:
    for name, params in (("RemoveAccountFromOrganization", {"accountId": "210987654321"}),
                         ("LeaveOrganization", {})):  # fmt: skip
        event = reading.parse(pushed(name, params=params, source="organizations.amazonaws.com"))
        assert not isinstance(event, reading.Unreadable), event
        assert tampering.takes_away(event) and tampering.concerns(event, {})
