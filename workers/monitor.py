"""The scheduled monitor: every cycle, each account's watched state is compared with the last known state.

`cycle` is run by RQ's cron scheduler (`workers.schedule`, every `TRAIL_AUDIT_MONITOR_SECONDS`) and enqueues
one `watch_account` job per account, so more workers watch more accounts at once. A regression is alerted
at once, even before its event is searchable; the event, once `LookupEvents` has it, attributes it. Changes
made by an executed trail-audit request are labelled approved.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis

from bot import blocks
from workers import actions as executed
from workers import alerts, drift, logs, slack
from workers.accounts import Account
from workers.awserrors import ApiError
from workers.events import LOOKUP_ATTEMPTS, ChangeEvent, lookup_writes
from workers.queues import connection, queue
from workers.ratelimit import RedisLimiter
from workers.regions import RegionPlan, plan
from workers.remediate import account_of
from workers.remediations import PlanError
from workers.settings import Settings

log = logging.getLogger("trail_audit.monitor")
LAST = "ta:monitor:last"  # the newest cycle's summary (any account)
BY_ACCOUNT = "ta:monitor:accounts"  # hash: account -> its newest cycle's summary
LOOKBACK = 20 * 60  # seconds of event history read each cycle: events can take 15 minutes to appear
ATTRIBUTE_FOR = 30 * 60  # seconds an alert keeps waiting for its event
MAX_PAGES = 20  # LookupEvents pages a region a cycle (1,000 write events): 10 s at 2 a second, at most


def state_key(account: str, region: str) -> str:
    """Where a region's last known state is kept."""
    return f"ta:state:{account}:{region}"


def cycle() -> int:
    """Cron job: enqueue one watch job per account; re-post unacknowledged alerts. Returns the jobs queued."""
    settings = Settings()
    logs.setup()
    conn = connection(settings)
    alerts.repost_unacknowledged(conn, settings)
    q = queue(conn)
    roles: list[str | None] = list(settings.role_arns) or [None]
    for role in roles:
        q.enqueue(
            "workers.monitor.watch_account",
            role,
            job_timeout=max(60, settings.monitor_seconds * 2),
            result_ttl=600,
            failure_ttl=86400,
        )
    return len(roles)


def watch_account(role_arn: str | None) -> dict[str, Any]:
    """Observe every region of one account, alert regressions and failed attempts, tell recoveries."""
    settings = Settings()
    logs.setup()
    conn = connection(settings)
    t0 = time.time()
    try:
        acct = account_of(settings, role_arn)
    except PlanError as exc:
        _blind(conn, settings, role_arn or "current credentials", str(exc))
        raise
    lock = f"ta:monitor:lock:{acct.id}"
    if not conn.set(lock, "1", nx=True, ex=max(60, settings.monitor_seconds * 2)):
        return {"skipped": "a cycle of this account is still running"}
    try:
        before_calls = Counter(acct.calls)
        regions = plan(acct, settings.home_region, settings.regions)
        if not isinstance(regions, RegionPlan):
            _blind(conn, settings, acct.id, regions.sentence())
            raise RuntimeError(regions.sentence())
        limiter = RedisLimiter(conn)
        with ThreadPoolExecutor(
            min(len(regions.enabled), settings.max_workers) or 1, thread_name_prefix="ta-mon"
        ) as pool:
            seen = list(pool.map(lambda r: _watch_region(conn, settings, acct, r, limiter), regions.enabled))
        unread = [f"{region}: {e}" for region, errors in seen for e in errors]
        if unread:
            _blind(
                conn,
                settings,
                acct.id,
                "; ".join(unread[:3]) + (f" (+{len(unread) - 3} more)" if len(unread) > 3 else ""),
            )
        else:
            _sighted(conn, settings, role_arn or "current credentials", acct.id)
        calls = sum((acct.calls - before_calls).values())
        summary = {
            "at": time.time(),
            "seconds": round(time.time() - t0, 3),
            "account": acct.id,
            "calls": calls,
            "regions": len(regions.enabled),
            "changes": sum(n for n, _ in seen),
            "unreadable": unread,
            "open_alerts": len(alerts.open_alerts(conn)),
        }
        conn.set(LAST, json.dumps(summary))
        conn.hset(BY_ACCOUNT, acct.id, json.dumps(summary))
        return summary
    finally:
        conn.delete(lock)


def _blind(conn: Redis, settings: Settings, who: str, why: str) -> None:
    """Say once, in the alert channel, that part of an account cannot be watched (never a silent blind spot)."""
    if conn.set(f"ta:monitor:blind:{who}", why, nx=True) and settings.alert_channel:
        text = f":warning: The monitor cannot watch all of {who}: {why}. Changes there would go unnoticed."
        slack.post(slack.web_client(settings), settings.alert_channel, {"text": text, "blocks": [blocks.section(text)]})


def _sighted(conn: Redis, settings: Settings, *names: str) -> None:
    """Say once that a blind spot is gone."""
    for who in names:
        if conn.delete(f"ta:monitor:blind:{who}") and settings.alert_channel:
            text = f":white_check_mark: The monitor watches all of {who} again."
            slack.post(
                slack.web_client(settings), settings.alert_channel, {"text": text, "blocks": [blocks.section(text)]}
            )


def _watch_region(
    conn: Redis, settings: Settings, acct: Account, region: str, limiter: RedisLimiter
) -> tuple[int, list[str]]:
    now = time.time()
    raw = conn.get(state_key(acct.id, region))
    previous = json.loads(raw) if raw else None
    observed = drift.observe(acct, region)
    merged = drift.merge(previous["state"] if previous else None, observed)
    conn.set(state_key(acct.id, region), json.dumps({"at": now, "state": merged}))
    changes = drift.regressions(acct.id, region, previous["state"], merged) if previous else []
    # the first observation is the baseline: nothing to compare, attribute or report yet
    events: list[ChangeEvent] | ApiError = _events(acct, region, now, limiter) if previous else []
    since = previous["at"] if previous else now
    actions = executed.since(conn, since - 5)
    for change in changes:
        if alerts.is_open(conn, change.key):
            continue
        doc = change.to_dict() | {"key": change.key, "title": change.sentence(), "restorable": True}
        doc["approved"] = drift.correlate(doc, actions, since)
        _attribute(doc, events)
        alerts.raise_alert(conn, settings, doc)
    new = {c.key for c in changes}
    for doc in alerts.open_alerts(conn, acct.id, region):
        if doc["key"] in new:
            continue
        if drift.recovered(doc, merged):
            by = drift.correlate(doc, actions, since)
            alerts.recover(conn, settings, doc, _recovered_by(doc, by, events))
        elif not doc.get("attribution") and now - doc["created"] < ATTRIBUTE_FOR and _attribute(doc, events):
            alerts.refresh(conn, settings, doc)
    if isinstance(events, list):
        _failed_attempts(conn, settings, acct.id, region, events)
    return len(changes), drift.unreadable(observed)


def _events(acct: Account, region: str, now: float, limiter: RedisLimiter) -> list[ChangeEvent] | ApiError:
    client = acct.client("cloudtrail", region, max_attempts=LOOKUP_ATTEMPTS)
    end = dt.datetime.fromtimestamp(now, dt.UTC)
    return lookup_writes(client, acct.id, region, end - dt.timedelta(seconds=LOOKBACK), end, limiter, MAX_PAGES)


def _attribute(doc: dict[str, Any], events: list[ChangeEvent] | ApiError) -> bool:
    """Fill in who made the change, or why that is unknown; True when the attribution is new."""
    if isinstance(events, ApiError):
        doc["lookup_error"] = f"LookupEvents failed ({events.code}); needs {events.action}"
        return False
    event = drift.attribute(doc, events)
    if event is None:
        return False
    doc["attribution"] = event.to_dict()
    doc.pop("lookup_error", None)
    return True


def _recovered_by(doc: dict[str, Any], action: dict[str, Any] | None, events: list[ChangeEvent] | ApiError) -> str:
    if action:
        return (
            f"restored by trail-audit request `{action['request']}` ({action['action']}), requested by "
            f"<@{action['requester']}> and approved by <@{action.get('approver') or '?'}>"
        )
    back = {
        "logging": ("StartLogging",),
        "present": ("CreateTrail", "PutConfigurationRecorder", "PutDeliveryChannel"),
        "recording": ("StartConfigurationRecorder",),
        "management": ("PutEventSelectors",),
        "narrowed": ("PutConfigurationRecorder",),
    }.get(doc["field"], ("UpdateTrail",))
    if isinstance(events, list):
        short = doc["resource"].rsplit("/", 1)[-1]
        for e in events:
            params = json.dumps(e.parameters or {})
            if e.name in back and not e.failed and (doc["resource"] in params or short in params):
                return f"restored by `{e.actor}` at {e.time} from {e.source_ip}"
    return "restored outside trail-audit (who: not yet in CloudTrail's event history)"


def _failed_attempts(conn: Redis, settings: Settings, account: str, region: str, events: list[ChangeEvent]) -> None:
    for e in events:
        if not e.failed or not conn.set(f"ta:event:{e.event_id}", "1", nx=True, ex=2 * LOOKBACK):
            continue
        target = json.dumps(e.parameters or {})[:200]
        doc = {
            "account": account,
            "region": region,
            "kind": "attempt",
            "resource": target,
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
        alerts.raise_alert(conn, settings, doc)


def status_lines(conn: Redis) -> list[str]:
    """`/trail-audit status`'s monitor lines: each account's last cycle, its AWS calls, open alerts."""
    cycles = [json.loads(v) for v in conn.hvals(BY_ACCOUNT)]
    if not cycles:
        return ["Monitor: no cycle yet"]
    lines = []
    for last in sorted(cycles, key=lambda c: c["account"]):
        when = time.strftime("%H:%M:%S UTC", time.gmtime(last["at"]))
        blind = f" · :warning: {len(last['unreadable'])} parts unreadable" if last.get("unreadable") else ""
        lines.append(
            f"Monitor: last cycle {when} ({last['seconds']:.1f} s, {last['calls']} AWS calls, {last['regions']} "
            f"regions of {last['account']}){blind}"
        )
    return [*lines, f"Open alerts: {len(alerts.open_alerts(conn))}"]
