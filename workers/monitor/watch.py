"""The scheduled monitor: every cycle, each account's watched state is compared with the last known state.

`cycle` is run by the clock (`workers.queue.schedule`, every `TRAIL_AUDIT_MONITOR_SECONDS`) and enqueues
one `watch_account` job per account, so more workers watch more accounts at once. A regression is alerted
at once, even before its event is searchable; the event, once `LookupEvents` has it, attributes it. Changes
made by an executed trail-audit request are labelled approved. What a cycle reads, and how that stays a
complete backstop with a fraction of the calls, is `reads`; whether the workers keep up, `pace`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from redis import Redis

from workers.aws import organization
from workers.aws.accounts import Account, account_of, default_account
from workers.aws.errors import ApiError
from workers.aws.event_history import ChangeEvent
from workers.aws.regions import RegionPlan
from workers.core import logs
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import code, escape, mention
from workers.core.settings import Settings, current
from workers.monitor import alerts, attribution, membership, notices, pace, reads, tampering
from workers.queue import paths
from workers.queue.queues import MONITOR, queue
from workers.resources import actions, watched
from workers.resources.watched import Change
from workers.slack import outbox
from workers.state import alert_records, monitor_records
from workers.state.connection import connection, kept
from workers.state.machine import AlertStatus
from workers.state.rate_limit import RedisLimiter

log = logging.getLogger("trail_audit.monitor")
ATTRIBUTE_FOR = 30 * 60  # seconds an alert keeps waiting for its event
SPREAD = 0.85  # the share of an interval a cycle's jobs are spread over: the last starts well before the next


def cycle(settings: Settings | None = None, conn: Redis | None = None) -> int:
    """Cron job: one watch job per account, spread evenly over most of the interval (a thousand accounts do not
    all start at once, and the last has started when the next cycle begins); re-post unacknowledged alerts. An
    account whose previous job has not started yet gets no second one: it is counted as behind (`status`,
    `/metrics`). Returns the jobs queued or scheduled."""
    settings = settings or Settings()  # the clock passes its own (read once)
    logs.setup()
    conn = conn or connection(settings)
    alerts.repost_unacknowledged(conn, settings)
    q = queue(conn, MONITOR)
    roles, unread = organization.roles(settings)
    if unread is not None:
        notices.blind(conn, settings, "the organization", unread.sentence())
    elif settings.org_role_name:
        notices.sighted(conn, settings, "the organization")
        listed = {str(arn).split(":")[4] for arn in roles if arn} | set(settings.accounts_exclude)
        caller = default_account(settings)
        membership.departures(conn, settings, listed, caller.id if isinstance(caller, Account) else None)
    spacing = settings.monitor_seconds * SPREAD / max(1, len(roles))
    options: dict[str, Any] = {"job_timeout": max(60, settings.monitor_seconds * 2), "result_ttl": 600,
                               "failure_ttl": 86400}  # fmt: skip
    queued = 0
    for i, role in enumerate(roles):
        later = dt.timedelta(seconds=i * spacing)
        if not monitor_records.mark_pending(conn, role or "default", settings.monitor_seconds * 3):
            continue  # the last cycle's job for it still waits: the workers are behind
        queued += 1
        if later < dt.timedelta(seconds=1):
            q.enqueue(paths.WATCH_ACCOUNT, role, **options)
        else:  # the worker's RQ scheduler queues it when its time comes
            q.enqueue_in(later, paths.WATCH_ACCOUNT, role, **options)
    pace.record(conn, settings, len(roles) + (unread is not None), len(roles) - queued)
    return queued


def watch_account(role_arn: str | None) -> dict[str, Any]:
    """Observe every region of one account, alert regressions and failed attempts, tell recoveries."""
    settings = current()  # the worker's own when it runs the job in its process (`paths.IN_PROCESS`)
    logs.setup()
    conn = kept(settings)
    monitor_records.started(conn, role_arn or "default")
    return _watch(conn, settings, role_arn)


def _watch(conn: Redis, settings: Settings, role_arn: str | None) -> dict[str, Any]:
    t0 = time.time()
    try:
        acct = account_of(settings, role_arn)
    except PlanError as exc:
        notices.blind(conn, settings, role_arn or "current credentials", str(exc))
        raise
    if not monitor_records.lock_account(conn, acct.id, max(60, settings.monitor_seconds * 2)):
        return {"skipped": "a cycle of this account is still running"}
    try:
        before_calls = Counter(acct.calls)
        regions = reads.regions(conn, settings, acct)
        if not isinstance(regions, RegionPlan):
            notices.blind(conn, settings, acct.id, regions.sentence())
            raise RuntimeError(regions.sentence())
        seen = _watch_regions(conn, settings, acct, regions.enabled)
        looked = [(r, found) for r, found in zip(regions.enabled, seen, strict=True) if found is not None]
        unread = [f"{r}: {e}" for r, (_, errors, _) in looked for e in errors]
        if unread:
            more = f" (+{len(unread) - 3} more)" if len(unread) > 3 else ""
            notices.blind(conn, settings, acct.id, "; ".join(unread[:3]) + more)
        elif all(s is not None for s in seen):  # a region left for its turn says nothing of a blind spot
            notices.sighted(conn, settings, role_arn or "current credentials", acct.id)
        open_now = alert_records.open_alerts(conn, acct.id)
        notices.silent_paths(conn, settings, open_now)
        summary = {
            "at": time.time(), "seconds": round(time.time() - t0, 3), "account": acct.id,
            "calls": sum((acct.calls - before_calls).values()), "regions": len(regions.enabled),
            "changes": sum(n for _, (n, _, _) in looked), "unreadable": unread, "looked": len(looked),
            "truncated": [note for _, (_, _, note) in looked if note], "open_alerts": len(open_now),
        }  # fmt: skip
        monitor_records.record_cycle(conn, acct.id, summary)
        return summary
    finally:
        monitor_records.unlock_account(conn, acct.id)


@dataclass
class _Look:
    """One region's look: when it began, the previous one, since when the region is watched, what it read, the
    state it leaves (what was read, and the last known value of what could not be), the regressions, the
    events and the actions."""

    now: float
    since: float
    watching_since: float
    observed: dict[str, Any]
    merged: dict[str, Any]
    changes: list[Change]
    events: list[ChangeEvent] | ApiError
    truncated: str | None
    actions: list[dict[str, Any]]


def _watch_regions(
    conn: Redis, settings: Settings, acct: Account, enabled: list[str]
) -> list[tuple[int, list[str], str | None] | None]:
    """The account's regions due a look this cycle (`reads.look_due`), a few at once, from one snapshot of
    what Redis knows of them; the trails listed once. A region left for its turn is None."""
    limiter = RedisLimiter(conn)
    snap = reads.snapshot(conn, settings, acct.id, enabled, reads.trail_homes(acct, settings), time.time())
    due = [(i, r) for i, r in enumerate(enabled) if reads.look_due(settings, snap, r, i)]
    with ThreadPoolExecutor(min(len(due), settings.monitor_threads) or 1, thread_name_prefix="ta-mon") as pool:
        seen = dict(pool.map(lambda ir: (ir[1], _watch_region(conn, settings, acct, ir[1], limiter, snap, ir[0])),
                             due))  # fmt: skip
    return [seen.get(r) for r in enabled]


def _watch_region(
    conn: Redis, settings: Settings, acct: Account, region: str, limiter: RedisLimiter,
    snap: reads.Snapshot | None = None, index: int = 0,
) -> tuple[int, list[str], str | None]:  # fmt: skip
    """One region's cycle. Returns (alerts raised, parts unreadable, a note when events were cut short).

    `snap` is what Redis knew of the account's regions when its cycle began (read here, for this region,
    when not given) and `index` the region's place among them (its turn for the reads made every few cycles).
    The new state, every new alert record and the messages about them are one commit (`commit_alerts`, the
    pushed path's too): a failed post is retried by the outbox, and a change seen here is never seen as
    "unchanged" by the next cycle unalerted.
    """
    now = time.time()  # before the look: an alert raised while it reads is not judged by it
    snap = snap or reads.snapshot(conn, settings, acct.id, [region], None, now)
    look = _look(conn, settings, acct, region, limiter, now, index, snap)
    docs, upgrades, used = _alerts_of(conn, settings, acct.id, region, look.changes, look)
    if docs:
        routed = organization.channel_for(settings, acct.id)
        for doc in docs:
            doc["channel"] = routed
    state = {"at": look.now, "since": look.watching_since, "state": look.merged}
    found = monitor_records.Changes(docs, used, state, None, lambda pipe, ds: alerts.stage_group(pipe, settings, ds))
    # a change the pushed path alerted since it was looked at is not alerted again (the open index is watched)
    raised, message = monitor_records.commit_alerts(conn, acct.id, region, lambda _pipe: found)
    outbox.kick(conn, [message] if message else [])
    for earlier, doc in upgrades:
        if not alerts.supersede(conn, settings, earlier, doc):  # closed meanwhile: the change gets its own
            alerts.raise_alert(conn, settings, doc | {"channel": organization.channel_for(settings, acct.id)})
    new = {d["key"] for d in [*raised, *(d for _, d in upgrades)]}
    _follow_open(conn, settings, [d for d in snap.open_in(region) if d["key"] not in new], look)
    return len(raised), watched.unreadable(look.observed), look.truncated


def _look(
    conn: Redis, settings: Settings, acct: Account, region: str, limiter: RedisLimiter, now: float, index: int,
    snap: reads.Snapshot,
) -> _Look:  # fmt: skip
    """Read the region (all of it, or what can change between two cycles: see `reads`), compare it with the
    last known state, and read its event history when something needs attributing or it is its turn."""
    previous = snap.states.get(region)
    known = previous["state"] if previous else None
    since = previous["at"] if previous else now
    actions = [a for a in snap.actions if a.get("ended", now) >= since - 5]
    here = snap.open_in(region)
    acted = any(a.get("account") == acct.id and a.get("region") == region for a in actions)
    full = known is None or reads.full_read(settings, snap.number, index, here, acted)
    trails = reads.trails_in(acct, region, snap.homes, known)
    observed = watched.observe(acct, region, trails, None if full else known)
    merged = watched.merge(known, observed)
    changes = watched.regressions(acct.id, region, known, merged) if known is not None else []
    found: tuple[list[ChangeEvent], bool] | ApiError = ([], False)  # the first look is the baseline
    if previous and reads.lookup_due(settings, snap.number, index, bool(changes or here), snap.healthy[region]):
        found = reads.events(acct, region, now, limiter, settings)
    truncated = None
    if not isinstance(found, ApiError) and found[1]:
        truncated = (f"CloudTrail's event history was read only in part ({settings.lookup_max_pages} pages of "
                     f"write events, the newest) in {region}: who made an older change may stay unknown")  # fmt: skip
    events = found if isinstance(found, ApiError) else [e for e in found[0] if tampering.concerns(e, merged)]
    watching = previous.get("since", previous["at"]) if previous else now
    return _Look(now, since, watching, observed, merged, changes, events, truncated, actions)


def _alerts_of(
    conn: Redis, settings: Settings, account: str, region: str, changes: list[Change], look: _Look
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]], set[str]]:
    """The alerts a look raises (state changes, then events alone), the event alerts a change upgrades, and the
    events now used."""
    used: set[str] = set()
    docs = []
    upgrades: list[tuple[dict[str, Any], dict[str, Any]]] = []
    announced = _announced(conn, account, region) if changes else []
    for change in changes:
        if alert_records.is_open(conn, change.key):
            continue
        doc = state_alert(change) | {"seen_by": "poll"}
        doc["approved"] = attribution.correlate(doc, look.actions, look.since)
        doc["restore"] = restore_offer(doc)
        if look.truncated:
            doc["truncated"] = look.truncated
        earlier = next((d for d in announced if attribution.attribute(doc, [ChangeEvent.from_dict(d["attribution"])])),
                       None)  # fmt: skip
        if earlier is not None:  # an event alert already said it: that message becomes this change's alert
            doc |= {"attribution": earlier["attribution"], "pushed": bool(earlier.get("pushed"))}
            doc.pop("lookup_error", None)
            upgrades.append((earlier, alerts.new(settings, doc)))
            continue
        if _attribute(doc, look.events):
            used.add(doc["attribution"]["event_id"])
        docs.append(alerts.new(settings, doc))
    if isinstance(look.events, list) and look.events:
        explained = _explained(conn, account, region, look.events)
        seen = used | explained
        fresh = [e for e in look.events if e.event_id not in seen and not monitor_records.is_seen(conn, e.event_id)]
        made = tampering.event_alerts(account, region, fresh, look.events, look.watching_since, look.actions)
        docs += [alerts.new(settings, d) for d in [*made, *tampering.attempts(account, region, fresh)]]
        used |= {d["attribution"]["event_id"] for d in docs if d.get("attribution")} | explained
    return docs, upgrades, used


def _follow_open(conn: Redis, settings: Settings, others: list[dict[str, Any]], look: _Look) -> None:
    """The region's other open alerts (those open when the look began): recovered ones closed (by a look that
    began after they were raised), unattributed ones given their event when it is found."""
    for doc in others:
        if watched.recovered(doc, look.merged) and doc["created"] < look.now:
            by = attribution.correlate(doc, look.actions, look.since)
            alerts.recover(conn, settings, doc, _recovered_by(doc, by, look.events))
        elif not doc.get("attribution") and look.now - doc["created"] < ATTRIBUTE_FOR and _attribute(doc, look.events):
            monitor_records.mark_seen(conn, doc["attribution"]["event_id"])
            alerts.refresh(conn, settings, doc)


def state_alert(change: Change) -> dict[str, Any]:
    """An alert's record of a state change (before its attribution): restorable when its field has an exact
    Restore."""
    field = watched.field_of(change.kind, change.field)
    doc = change.to_dict() | {"key": change.key, "title": change.sentence(), "restorable": field.restorable}
    if field.text is not None:
        doc |= {"before_text": field.text(change.before), "after_text": field.text(change.after)}
    return doc


def restore_offer(doc: dict[str, Any]) -> dict[str, Any] | None:
    """What the alert's Restore button asks for: the plan back to the last known good state, its permissions,
    the check re-run afterwards, and the value it is planned against (a restore onto a changed state is
    refused at execution). None when the alert's field has no exact Restore."""
    if not doc.get("restorable"):
        return None
    planned = watched.restore_plan(doc)
    planned_doc = planned.to_dict() | {"basis": [watched.basis(doc)]}
    return {
        "plan": planned_doc,
        "permissions": actions.permissions(planned),
        "check": watched.field_of(doc["kind"], doc["field"]).check,
        "resource": watched.checked_resource(doc),
    }


def _announced(conn: Redis, account: str, region: str) -> list[dict[str, Any]]:
    """Open event alerts of a region: a call alerted before its state change was known (usually pushed)."""
    return [d for d in alert_records.recent(conn, account, region)
            if d["field"] == "event" and d["status"] != AlertStatus.RECOVERED and d.get("attribution")]  # fmt: skip


def _explained(conn: Redis, account: str, region: str, events: list[ChangeEvent]) -> set[str]:
    """Events that explain an alert of the last hours, open or not (their change was alerted already)."""
    out = set()
    for doc in alert_records.recent(conn, account, region):
        if doc["field"] in ("attempt", "event"):
            continue
        event = attribution.attribute(doc, [e for e in events if tampering.at(e) <= doc["created"] + 60])
        if event is not None:
            out.add(event.event_id)
    return out


def _attribute(doc: dict[str, Any], events: list[ChangeEvent] | ApiError) -> bool:
    """Fill in who made the change, or why that is unknown; True when the attribution is new."""
    if isinstance(events, ApiError):
        doc["lookup_error"] = events.sentence()
        return False
    event = attribution.attribute(doc, events)
    if event is None:
        return False
    doc["attribution"] = event.to_dict()
    doc.pop("lookup_error", None)
    return True


def _recovered_by(doc: dict[str, Any], action: dict[str, Any] | None, events: list[ChangeEvent] | ApiError) -> str:
    if action:
        return (
            f"restored by trail-audit request {code(action['request'])} ({escape(action['action'])}), requested by "
            f"{mention(action['requester'])} and approved by {mention(action.get('approver') or '?')}"
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
                return f"restored by {code(e.actor)} at {escape(e.time)} from {escape(e.source_ip)}"
    return "restored outside trail-audit (who: not yet in CloudTrail's event history)"
