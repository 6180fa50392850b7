"""The scheduled posture report: at each `TRAIL_AUDIT_REPORT_SCHEDULE` time the clock queues an audit of every
account, posted to `TRAIL_AUDIT_REPORT_CHANNEL` (default the alert channel). An account routed in
`TRAIL_AUDIT_CHANNEL_ROUTES` (by its id or an OU, as its alerts are) is audited and reported in its channel; the
rest share the report channel.

Each fire time is claimed in Redis by the time itself (`audits.claim_report_slot`), so it is queued once however
many clocks run, and the same instant on every host. Only the latest fire time that has come is run, within
`GRACE` of it: a clock that was down does not make up the reports it missed.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from redis import Redis
from rq import Callback

from workers.aws import organization
from workers.core import cron
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import queue
from workers.state import audits

log = logging.getLogger("trail_audit.schedule")
GRACE = 300.0  # seconds a fire time may be late and still be run
_NEXT: dict[str, float] = {}  # the next fire time this process computed, per schedule


def fire_due(settings: Settings, conn: Redis) -> int:
    """Clock job: queue the scheduled reports whose time has come; returns how many audits were queued."""
    if not settings.report_schedule:
        return 0
    schedule = cron.parse(settings.report_schedule)
    now = time.time()
    due, latest = _NEXT.get(schedule.text) or schedule.next_after(now - GRACE), None
    while due <= now:  # only the latest fire time that has come is run: a clock never makes up a backlog
        latest, due = due, schedule.next_after(due)
    _NEXT[schedule.text] = due
    if latest is None:
        return 0
    if now - latest > GRACE:
        log.warning("scheduled report skipped: no clock ran at its time", extra={"at": latest})
        return 0
    return len(_queue(settings, conn, latest)) if audits.claim_report_slot(conn, latest) else 0


def account_of(role: str | None) -> str:
    """The account id in a role ARN ("" for the current credentials, whose id is not known here)."""
    return str(role).split(":")[4] if role and str(role).count(":") >= 5 else ""


def _queue(settings: Settings, conn: Redis, due: float) -> list[str]:
    """One audit per channel: the accounts routed to their channel, the others to the report channel."""
    channel = settings.report_channel or settings.alert_channel
    by_channel: dict[str, list[str]] = {}
    roles, _ = organization.roles(settings)
    for role in roles:
        target = organization.channel_for(settings, account_of(role), default=channel) if role else channel
        if target:
            by_channel.setdefault(target, []).append(account_of(role))
    if not by_channel:
        log.warning("scheduled report not queued: no TRAIL_AUDIT_REPORT_CHANNEL or alert channel")
        return []
    if len(by_channel) == 1:  # no routes: one audit of everything (the organization read again by the audit)
        return [_enqueue(conn, next(iter(by_channel)), None, due)]
    return [_enqueue(conn, target, accounts, due) for target, accounts in by_channel.items()]


def _enqueue(conn: Redis, channel: str, accounts: list[str] | None, due: float) -> str:
    """Queue one audit as the slash command does, of `accounts` (ids; None: every account), posted to `channel`."""
    request: dict[str, Any] = {"id": uuid.uuid4().hex, "kind": "audit", "channel": channel, "user": "schedule",
                               "response_url": None, "regions": [], "hours": None, "scheduled": due,
                               "accounts": accounts}  # fmt: skip
    queue(conn).enqueue(paths.START_AUDIT, request, job_timeout=120, on_failure=Callback(paths.FAILED),
                        meta={"reply": {"channel": channel, "response_url": None, "what": "audit"}})  # fmt: skip
    log.info("scheduled report queued", extra={"audit": request["id"], "channel": channel})
    return str(request["id"])
