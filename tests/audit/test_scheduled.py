"""The scheduled report's fire times on a real redis-server: each queued once however many clocks ask, routed by
account to its channel, and a time missed by more than the grace skipped."""

from __future__ import annotations

import time

import pytest
from redis import Redis
from rq.job import Job

from workers.audit import scheduled
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import queue

ROLES = "arn:aws:iam::111111111111:role/TrailAudit,arn:aws:iam::222222222222:role/TrailAudit"


def queued(conn: Redis) -> list[dict[str, object]]:
    jobs = [Job.fetch(i, connection=conn) for i in queue(conn).job_ids]
    return [j.args[0] for j in jobs if j.func_name == paths.START_AUDIT]


def test_each_fire_time_is_queued_once_and_routed_by_account(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    settings = Settings(_env_file=None, TRAIL_AUDIT_REPORT_SCHEDULE="@every 60s", TRAIL_AUDIT_ROLE_ARNS=ROLES,
                        TRAIL_AUDIT_ALERT_CHANNEL="C0ALERTS", TRAIL_AUDIT_REPORT_CHANNEL="C0REPORTS",
                        TRAIL_AUDIT_CHANNEL_ROUTES="111111111111=C0TEAM")  # type: ignore[call-arg]  # fmt: skip
    now = (time.time() // 60) * 60 + 1  # a second after a fire time
    monkeypatch.setattr(scheduled.time, "time", lambda: now)
    scheduled._NEXT.clear()
    assert scheduled.fire_due(settings, conn) == 2  # one audit per channel
    requests = sorted(queued(conn), key=lambda r: str(r["channel"]))
    assert [(r["channel"], r["accounts"]) for r in requests] == [("C0REPORTS", ["222222222222"]),
                                                                  ("C0TEAM", ["111111111111"])]  # fmt: skip
    assert all(r["kind"] == "audit" and r["scheduled"] == now - 1 for r in requests)
    assert scheduled.fire_due(settings, conn) == 0  # the same clock again
    scheduled._NEXT.clear()
    assert scheduled.fire_due(settings, conn) == 0  # another clock (its own memory): the time is claimed
    now += 60
    assert scheduled.fire_due(settings, conn) == 2  # the next fire time
    unset = Settings(_env_file=None)  # type: ignore[call-arg]
    assert scheduled.fire_due(unset, conn) == 0


def test_a_fire_time_missed_beyond_the_grace_is_skipped(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    settings = Settings(_env_file=None, TRAIL_AUDIT_REPORT_SCHEDULE="@every 600s",
                        TRAIL_AUDIT_ALERT_CHANNEL="C0ALERTS")  # type: ignore[call-arg]  # fmt: skip
    base = (time.time() // 600) * 600
    monkeypatch.setattr(scheduled.time, "time", lambda: base + 1)
    scheduled._NEXT.clear()
    assert scheduled.fire_due(settings, conn) == 1 and queued(conn)[0]["accounts"] is None  # no routes: everything
    monkeypatch.setattr(scheduled.time, "time", lambda: base + 1200 + scheduled.GRACE + 1)  # no clock ran for 20 min
    assert scheduled.fire_due(settings, conn) == 0  # base+600 is too late now; base+1200 also (beyond the grace)


def test_an_account_routed_by_its_ou_gets_its_report_in_the_ous_channel(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OUs an account sits in are read as for its alerts (`organization.channel_for`; that reading is tested
    on moto's Organizations with the alerts); here they are given."""
    from workers.aws import organization

    conn = Redis.from_url(redis_url)
    conn.flushdb()
    settings = Settings(_env_file=None, TRAIL_AUDIT_REPORT_SCHEDULE="@every 60s", TRAIL_AUDIT_ROLE_ARNS=ROLES,
                        TRAIL_AUDIT_ALERT_CHANNEL="C0ALERTS", TRAIL_AUDIT_CHANNEL_ROUTES="ou-ab12-payments=C0PAY",
                        )  # type: ignore[call-arg]  # fmt: skip
    monkeypatch.setattr(organization, "_units_of", lambda s, account: ["ou-ab12-payments"] if account.startswith(
        "2") else [])  # fmt: skip
    monkeypatch.setattr(scheduled.time, "time", lambda: (1_800_000_000 // 60) * 60 + 1)
    scheduled._NEXT.clear()
    assert scheduled.fire_due(settings, conn) == 2
    routed = {r["channel"]: r["accounts"] for r in queued(conn)}
    assert routed == {"C0PAY": ["222222222222"], "C0ALERTS": ["111111111111"]}  # no report channel: the alert one
