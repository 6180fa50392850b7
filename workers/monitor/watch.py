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
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.aws import organization
from workers.aws.accounts import Account, account_of, default_account
from workers.aws.errors import ApiError
from workers.aws.event_history import LOOKUP_ATTEMPTS, ChangeEvent, recent_writes
from workers.aws.regions import RegionPlan, plan
from workers.core import logs
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import code, escape, mention
from workers.core.settings import Settings
from workers.monitor import alerts, attribution, membership, tampering
from workers.queue import paths
from workers.queue.queues import MONITOR, queue
from workers.resources import actions, watched
from workers.resources.watched import Change
from workers.slack import outbox
from workers.slack.messages.kit import clip, section
from workers.state import alert_records, executed_actions, monitor_records, outgoing
from workers.state.connection import connection
from workers.state.machine import AlertStatus
from workers.state.rate_limit import RedisLimiter

log = logging.getLogger("trail_audit.monitor")
LOOKBACK = 20 * 60  # seconds of event history read each cycle: events can take 15 minutes to appear
ATTRIBUTE_FOR = 30 * 60  # seconds an alert keeps waiting for its event


def cycle(settings: Settings | None = None, conn: Redis | None = None) -> int:
    """Cron job: one watch job per account, spread evenly over the interval (a thousand accounts do not all
    start at once); re-post unacknowledged alerts. Returns the jobs queued or scheduled."""
    settings = settings or Settings()  # the clock passes its own (read once)
    logs.setup()
    conn = conn or connection(settings)
    alerts.repost_unacknowledged(conn, settings)
    q = queue(conn, MONITOR)
    roles, unread = organization.roles(settings)
    if unread is not None:
        _blind(conn, settings, "the organization", unread.sentence())
    elif settings.org_role_name:
        _sighted(conn, settings, "the organization")
        listed = {str(arn).split(":")[4] for arn in roles if arn} | set(settings.accounts_exclude)
        caller = default_account(settings)
        membership.departures(conn, settings, listed, caller.id if isinstance(caller, Account) else None)
    planned = {"at": time.time(), "interval": settings.monitor_seconds, "accounts": len(roles) + (unread is not None)}
    monitor_records.record_coverage(conn, planned)
    spacing = settings.monitor_seconds / max(1, len(roles))
    options: dict[str, Any] = {"job_timeout": max(60, settings.monitor_seconds * 2), "result_ttl": 600,
                               "failure_ttl": 86400}  # fmt: skip
    for i, role in enumerate(roles):
        later = dt.timedelta(seconds=i * spacing)
        if later < dt.timedelta(seconds=1):
            q.enqueue(paths.WATCH_ACCOUNT, role, **options)
        else:  # the worker's RQ scheduler queues it when its time comes
            q.enqueue_in(later, paths.WATCH_ACCOUNT, role, **options)
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
    if not monitor_records.lock_account(conn, acct.id, max(60, settings.monitor_seconds * 2)):
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
        unread = [
            f"{region}: {e}" for region, (_, errors, _) in zip(regions.enabled, seen, strict=True) for e in errors
        ]
        if unread:
            _blind(
                conn,
                settings,
                acct.id,
                "; ".join(unread[:3]) + (f" (+{len(unread) - 3} more)" if len(unread) > 3 else ""),
            )
        else:
            _sighted(conn, settings, role_arn or "current credentials", acct.id)
        _silent_paths(conn, settings, acct.id)
        calls = sum((acct.calls - before_calls).values())
        summary = {
            "at": time.time(),
            "seconds": round(time.time() - t0, 3),
            "account": acct.id,
            "calls": calls,
            "regions": len(regions.enabled),
            "changes": sum(n for n, _, _ in seen),
            "unreadable": unread,
            "truncated": [note for _, _, note in seen if note],
            "open_alerts": len(alert_records.open_alerts(conn)),
        }
        monitor_records.record_cycle(conn, acct.id, summary)
        return summary
    finally:
        monitor_records.unlock_account(conn, acct.id)


def event_path(account: str, region: str) -> str:
    """How the pushed event path of one account and region is named (in its flag and its notices)."""
    return f"the pushed event path of {account} {region}"


def _silent_paths(conn: Redis, settings: Settings, account: str) -> None:
    """With the pushed event path on, a change the poller alerted that no pushed event announced within
    TRAIL_AUDIT_EVENTS_GRACE_SECONDS means the path is broken there: said once (its healing too: `healed`)."""
    if not settings.events_queue_url:
        return
    now = time.time()
    for doc in alert_records.open_alerts(conn, account):
        if doc.get("seen_by") != "poll" or doc.get("pushed") or now - doc["created"] < settings.events_grace_seconds:
            continue
        who = event_path(doc["account"], doc["region"])
        why = f"no pushed event announced {doc['title']} within {settings.events_grace_seconds:g} s"
        text = (f":warning: {escape(who[0].upper() + who[1:])} looks broken: {escape(why)}. The poller still "
                "watches; check the EventBridge rule and the queue (deploy/events/).")  # fmt: skip
        flag(conn, settings, who, why, f"events-broken-{doc['account']}-{doc['region']}-{int(now)}", text)


def healed(conn: Redis, settings: Settings, account: str, region: str) -> None:
    """A pushed event arrived from an account and region: if its path was said broken, say that it works."""
    who = event_path(account, region)
    text = f":white_check_mark: {escape(who[0].upper() + who[1:])} delivers events again."
    flag(conn, settings, who, None, f"events-healed-{account}-{region}-{int(time.time())}", text)


def _blind(conn: Redis, settings: Settings, who: str, why: str) -> None:
    """Say once, in the alert channel, that part of an account cannot be watched (never a silent blind spot)."""
    text = f":warning: The monitor cannot watch all of {escape(who)}: {escape(why)}. Changes there would go unnoticed."
    flag(conn, settings, who, why, f"blind-{who}-{int(time.time())}", text)


def _sighted(conn: Redis, settings: Settings, *names: str) -> None:
    """Say once that a blind spot is gone."""
    for who in names:
        text = f":white_check_mark: The monitor watches all of {escape(who)} again."
        flag(conn, settings, who, None, f"sighted-{who}-{int(time.time())}", text)


def flag(conn: Redis, settings: Settings, who: str, why: str | None, message_id: str, text: str) -> None:
    """Set (a reason) or clear (None) an account's blind-spot flag, and on a change commit its notice with it."""
    message = {"text": clip(text, 3000), "blocks": [section(text)]}

    def notice(pipe: Pipeline) -> str | None:
        return outgoing.stage(pipe, message_id, settings.alert_channel, message) if settings.alert_channel else None

    outbox.kick(conn, monitor_records.flag(conn, who, why, notice))


@dataclass
class _Look:
    """One region's look: when it began, the previous one, since when the region is watched, the state it
    leaves (what was read, and the last known value of what could not be), the events and the actions."""

    now: float
    since: float
    watching_since: float
    merged: dict[str, Any]
    events: list[ChangeEvent] | ApiError
    truncated: str | None
    actions: list[dict[str, Any]]


def _watch_region(
    conn: Redis, settings: Settings, acct: Account, region: str, limiter: RedisLimiter
) -> tuple[int, list[str], str | None]:
    """One region's cycle. Returns (alerts raised, parts unreadable, a note when events were cut short).

    The new state, every new alert record and the messages about them are one commit (`commit_alerts`, the
    pushed path's too): a failed post is retried by the outbox, and a change seen here is never seen as
    "unchanged" by the next cycle unalerted.
    """
    now = time.time()  # before the look: an alert raised while it reads is not judged by it
    previous = monitor_records.region_state(conn, acct.id, region)
    observed = watched.observe(acct, region)
    look = _look(conn, settings, acct, region, limiter, now, previous, observed)
    changes = watched.regressions(acct.id, region, previous["state"], look.merged) if previous else []
    docs, upgrades, used = _alerts_of(conn, settings, acct.id, region, changes, look)
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
    _follow_open(conn, settings, acct.id, region, {d["key"] for d in [*raised, *(d for _, d in upgrades)]}, look)
    return len(raised), watched.unreadable(observed), look.truncated


def _look(
    conn: Redis, settings: Settings, acct: Account, region: str, limiter: RedisLimiter, now: float,
    previous: dict[str, Any] | None, observed: dict[str, Any],
) -> _Look:  # fmt: skip
    # the first observation is the baseline: nothing to compare, attribute or report yet
    found = _events(acct, region, now, limiter, settings) if previous else ([], False)
    truncated = None
    if not isinstance(found, ApiError) and found[1]:
        truncated = (f"CloudTrail's event history was read only in part ({settings.lookup_max_pages} pages of "
                     f"write events, the newest) in {region}: who made an older change may stay unknown")  # fmt: skip
    since = previous["at"] if previous else now
    merged = watched.merge(previous["state"] if previous else None, observed)
    events = found if isinstance(found, ApiError) else [e for e in found[0] if tampering.concerns(e, merged)]
    return _Look(
        now, since, previous.get("since", previous["at"]) if previous else now,
        merged, events, truncated, executed_actions.since(conn, since - 5),
    )  # fmt: skip


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
    if isinstance(look.events, list):
        explained = _explained(conn, account, region, look.events)
        seen = used | explained
        fresh = [e for e in look.events if e.event_id not in seen and not monitor_records.is_seen(conn, e.event_id)]
        made = tampering.event_alerts(account, region, fresh, look.events, look.watching_since, look.actions)
        docs += [alerts.new(settings, d) for d in [*made, *tampering.attempts(account, region, fresh)]]
        used |= {d["attribution"]["event_id"] for d in docs if d.get("attribution")} | explained
    return docs, upgrades, used


def _follow_open(conn: Redis, settings: Settings, account: str, region: str, new: set[str], look: _Look) -> None:
    """The region's other open alerts: recovered ones closed (by a look that began after they were raised),
    unattributed ones given their event when it is found."""
    for doc in alert_records.open_alerts(conn, account, region):
        if doc["key"] in new:
            continue
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


def _events(
    acct: Account, region: str, now: float, limiter: RedisLimiter, settings: Settings
) -> tuple[list[ChangeEvent], bool] | ApiError:
    client = acct.client("cloudtrail", region, max_attempts=LOOKUP_ATTEMPTS)
    end = dt.datetime.fromtimestamp(now, dt.UTC)
    start = end - dt.timedelta(seconds=LOOKBACK)
    return recent_writes(client, acct.id, region, start, end, limiter, settings.lookup_max_pages)


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
