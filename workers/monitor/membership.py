"""An account that leaves the organization: alerted once, shown in `status` and the Home, never silently
dropped from coverage.

The monitor's cycle lists the organization's accounts; one it watched before and no longer finds has left (or
was removed, or suspended). Its organization trail no longer records it, and trail-audit can no longer reach it
through the organization's role: that is said, once however many clocks run, and kept until it is listed again.
`LeaveOrganization` and `RemoveAccountFromOrganization` are watched calls too (an event alert, with who).
"""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.core.mrkdwn import code
from workers.core.settings import Settings
from workers.monitor import alerts
from workers.slack import outbox
from workers.state import monitor_records

GLOBAL = "global"


def departures(conn: Redis, settings: Settings, listed: set[str], management: str | None) -> list[str]:
    """Alert each watched account the organization no longer lists; returns those alerted now."""
    monitor_records.rejoined(conn, listed & set(monitor_records.left(conn)))
    leaving = sorted(set(monitor_records.cycles(conn)) - listed)
    if not leaving:
        return []  # the usual cycle: no scan of the management account's states
    trails = monitor_records.organization_trails(conn, management) if management else []
    gone = []
    for account in leaving:
        doc = _alert(settings, account, trails)
        note = {"at": doc["created"], "trails": trails}

        def stage(pipe: Pipeline, doc: dict[str, Any] = doc) -> str | None:
            return alerts.stage_group(pipe, settings, [doc])

        staged = monitor_records.leave(conn, account, note, stage)
        if staged:
            outbox.kick(conn, staged)
            gone.append(account)
    return gone


def _alert(settings: Settings, account: str, trails: list[str]) -> dict[str, Any]:
    covered = (f"organization trail {', '.join(code(t.rsplit('/', 1)[-1]) for t in trails)} no longer covers it"
               if trails else "an organization trail no longer covers it")  # fmt: skip
    story = (f"*What* account {code(account)} is no longer listed by the organization: {covered}, and trail-audit "
             "can no longer watch it. If it left on purpose, it needs a trail of its own.")  # fmt: skip
    return alerts.new(settings, {
        "account": account, "region": GLOBAL, "kind": "account", "resource": account, "field": "membership",
        "key": f"{account}|{GLOBAL}|account|{account}|membership", "created": time.time(),
        "title": f"Account {account} left the organization", "before": "member", "after": "not listed",
        "snapshot": {}, "restorable": False, "attribution": None, "approved": None, "story": story,
        "channel": settings.alert_channel,
    })  # fmt: skip
