"""Tamper alerts: one record per change, committed with the state that shows it, then said in Slack.

An alert is a hash (`keys.alert`): its doc, its status (open -> acknowledged -> recovered, or open ->
recovered, through `workers.state.machine`), and who acknowledged or recovered it. An open alert is found by
its change key (account, region, resource, field), so a regression that persists is not alerted again.
The alerts one cycle finds in one account and region are rolled up into one message (a group); a flood of
changes is a handful of messages, paced by the outbox under Slack's per-channel rate, and never lost.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.core.ids import new_id
from workers.core.mrkdwn import mention
from workers.core.settings import Settings
from workers.slack import outbox
from workers.slack.messages.alert import alert_group, recovery, repost
from workers.state import alert_records, auditlog, machine, metrics, outgoing
from workers.state.machine import AlertStatus, Refused
from workers.state.transactions import atomic

__all__ = ["AlertStatus", "Refused"]


def new(settings: Settings, doc: dict[str, Any]) -> dict[str, Any]:
    """Fill in an alert's id, time, status and mention (only unapproved changes page anyone)."""
    doc.setdefault("id", new_id())
    doc.setdefault("created", time.time())
    doc["status"] = AlertStatus.OPEN.value
    if not doc.get("approved") and settings.alert_mention:
        doc["mention"] = settings.alert_mention
    return doc


def channel_of(settings: Settings, doc: dict[str, Any]) -> str:
    """The channel an alert is shown in: its account's route, chosen when it was raised, or the alert channel."""
    return str(doc.get("channel") or settings.alert_channel or "")


def group_id(doc: dict[str, Any]) -> str:
    """The outbox id of the message an alert is shown in."""
    return f"alert-{doc.get('group') or doc['id']}"


def stage_group(
    pipe: Pipeline,
    settings: Settings,
    docs: list[dict[str, Any]],
    joining: tuple[str, list[dict[str, Any]]] | None = None,
) -> str | None:
    """Stage new alerts (one account and region, one cycle) and the one message that shows them all; with
    `joining` (a group's id and its alerts so far), they join that group's message instead (a burst)."""
    if not docs:
        return None
    gid, earlier = joining if joining else (new_id(), [])
    for doc in docs:
        doc["group"] = gid
    alert_records.stage_new(pipe, docs, gid)
    for doc in docs:
        auditlog.stage(
            pipe, "alert", None, None, alert=doc["id"], title=doc["title"], approved=bool(doc.get("approved"))
        )
    for seen_by, n in Counter(str(d.get("seen_by") or "poll") for d in docs).items():
        metrics.stage(pipe, "alerts_raised", n, seen_by=seen_by)
    if not channel_of(settings, docs[0]):
        return None
    return outgoing.stage(pipe, f"alert-{gid}", channel_of(settings, docs[0]), alert_group([*earlier, *docs]))


def _redraw(pipe: Pipeline, settings: Settings, docs: list[dict[str, Any]]) -> str | None:
    if not docs or not channel_of(settings, docs[0]):
        return None
    return outgoing.stage(pipe, group_id(docs[0]), channel_of(settings, docs[0]), alert_group(docs))


def refresh(conn: Redis, settings: Settings, doc: dict[str, Any]) -> None:
    """Save an alert's doc (an attribution found later) and redraw its message."""
    with atomic(conn) as pipe:
        mid = stage_refresh(conn, pipe, settings, doc)
    outbox.kick(conn, [mid] if mid else [])


def stage_refresh(conn: Redis, pipe: Pipeline, settings: Settings, doc: dict[str, Any]) -> str | None:
    """Stage an alert's doc and its redrawn message on `pipe` (its group's other members read from `conn`)."""
    docs = [doc if d["id"] == doc["id"] else d for d in alert_records.members(conn, doc)]
    alert_records.stage_doc(pipe, doc)
    return _redraw(pipe, settings, docs)


def supersede(conn: Redis, settings: Settings, old: dict[str, Any], doc: dict[str, Any]) -> bool:
    """Show a state change's alert (`doc`, new) in place of the event alert that already announced the same
    change (`old`: a pushed call read before its state was known): one message, now with Restore. The event
    alert is closed in the same commit; False (nothing done) if it was closed already."""
    gid = str(old.get("group") or old["id"])
    doc |= {"group": gid, "channel": old.get("channel") or doc.get("channel"), "supersedes": old["id"]}
    doc.pop("mention", None)  # the message is redrawn, not posted again: nobody is paged twice
    shown = [doc if d["id"] == old["id"] else d for d in alert_records.members(conn, old)]
    staged: list[str | None] = []

    def then(pipe: Pipeline) -> None:
        alert_records.stage_in_place_of(pipe, doc, old["id"], gid)
        auditlog.stage(pipe, "alert", None, None, alert=doc["id"], title=doc["title"], supersedes=old["id"],
                       approved=bool(doc.get("approved")))  # fmt: skip
        staged.append(_redraw(pipe, settings, shown))

    by = f"shown as the state change {doc['title']}"
    left = machine.move_alert(
        conn, old["id"], AlertStatus.RECOVERED, {"recovered_by": by, "recovered_at": f"{time.time():.3f}"}, then
    )
    outbox.kick(conn, [m for m in staged if m])
    return left is not None


def acknowledge(conn: Redis, settings: Settings, alert_id: str, user: str) -> dict[str, Any]:
    """Record who took an alert (once), and show it on the alert."""
    doc = alert_records.load(conn, alert_id)
    if doc.get("acked_by"):
        raise Refused(f"Already acknowledged by {mention(doc['acked_by'])}.")
    if doc["status"] != AlertStatus.OPEN:
        raise Refused(f"This alert is {doc['status']}: there is nothing to acknowledge.")
    now = time.time()
    mine = doc | {"acked_by": user, "acked_at": now, "status": AlertStatus.ACKNOWLEDGED.value}
    docs = [mine if d["id"] == alert_id else d for d in alert_records.members(conn, doc)]
    staged: list[str | None] = []

    def then(pipe: Pipeline) -> None:
        auditlog.stage(pipe, "acknowledged", None, user, alert=alert_id)
        staged.append(_redraw(pipe, settings, docs))

    if (
        machine.move_alert(conn, alert_id, AlertStatus.ACKNOWLEDGED, {"acked_by": user, "acked_at": f"{now:.3f}"}, then)
        is None
    ):
        latest = alert_records.load(conn, alert_id)
        raise Refused(
            f"This alert is {latest['status']}"
            + (f", acknowledged by {mention(latest['acked_by'])}." if latest.get("acked_by") else ".")
        )
    outbox.kick(conn, [m for m in staged if m])
    return mine


def recover(conn: Redis, settings: Settings, doc: dict[str, Any], by: str) -> bool:
    """Close an alert whose field is back; tell its thread who restored it. False if it was closed already."""
    now = time.time()
    mine = doc | {"status": AlertStatus.RECOVERED.value, "recovered_by": by, "recovered_at": now}
    docs = [mine if d["id"] == doc["id"] else d for d in alert_records.members(conn, doc)]
    staged: list[str | None] = []

    def then(pipe: Pipeline) -> None:
        auditlog.stage(pipe, "recovered", None, None, alert=doc["id"], by=by)
        staged.append(_redraw(pipe, settings, docs))
        if channel_of(settings, doc):
            staged.append(
                outgoing.stage(
                    pipe,
                    f"alert-{doc['id']}-recovered",
                    channel_of(settings, doc),
                    recovery(doc, by),
                    thread=group_id(doc),
                )
            )

    left = machine.move_alert(
        conn, doc["id"], AlertStatus.RECOVERED, {"recovered_by": by, "recovered_at": f"{now:.3f}"}, then
    )
    outbox.kick(conn, [m for m in staged if m])
    return left is not None


def repost_unacknowledged(conn: Redis, settings: Settings, now: float | None = None) -> int:
    """Post again every open alert nobody acknowledged within the set time (once each); the mention only
    for unapproved changes: an approved change never pages anyone."""
    now = time.time() if now is None else now
    count = 0
    for doc in alert_records.open_alerts(conn):
        late = now - doc["created"] > settings.alert_repost_minutes * 60
        if doc["status"] != AlertStatus.OPEN or not late or doc.get("reposted") or not channel_of(settings, doc):
            continue
        mention = None if doc.get("approved") else settings.alert_mention
        doc["reposted"] = now
        with atomic(conn) as pipe:
            alert_records.stage_doc(pipe, doc)
            again = repost(doc, settings.alert_repost_minutes, mention)
            mid = outgoing.stage(pipe, f"alert-{doc['id']}-repost", channel_of(settings, doc), again)
        outbox.kick(conn, [mid])
        count += 1
    return count


def raise_alert(conn: Redis, settings: Settings, doc: dict[str, Any]) -> dict[str, Any]:
    """Record one alert and queue its message (the monitor rolls up a cycle's alerts with `stage_group`)."""
    new(settings, doc)
    with atomic(conn) as pipe:
        mid = stage_group(pipe, settings, [doc])
    outbox.kick(conn, [mid] if mid else [])
    return doc
