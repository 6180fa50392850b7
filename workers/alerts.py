"""Tamper alerts: one per change, kept in Redis, posted in the alert channel, acknowledged, recovered, re-posted.

An open alert is found by its key (account, region, resource, field), so a regression that persists is not
posted again each cycle; its recovery is told in the alert's thread.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

from bot import blocks
from workers import approvals, auditlog, slack
from workers.approvals import Refused
from workers.settings import Settings

OPEN = "ta:alerts:open"  # hash: change key -> alert id


def key(alert_id: str) -> str:
    """The Redis key of an alert."""
    return f"ta:alert:{alert_id}"


def load(conn: Redis, alert_id: str) -> dict[str, Any]:
    """An alert by id; unknown or malformed ids are refused."""
    raw = conn.get(key(alert_id)) if alert_id.isalnum() and len(alert_id) <= 32 else None
    if raw is None:
        raise Refused("There is no such alert (unknown, or not from this workspace).")
    return dict(json.loads(raw))


def save(conn: Redis, doc: dict[str, Any]) -> None:
    """Write an alert, and keep the open index in step with its status."""
    conn.set(key(doc["id"]), json.dumps(doc))
    if doc["status"] == "open" and doc["field"] != "attempt":
        conn.hset(OPEN, doc["key"], doc["id"])
    else:
        conn.hdel(OPEN, doc["key"])


def open_alerts(conn: Redis, account: str | None = None, region: str | None = None) -> list[dict[str, Any]]:
    """Open alerts, optionally of one account and region."""
    out = []
    for raw_id in conn.hvals(OPEN):
        try:
            doc = load(conn, raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id))
        except Refused:
            continue
        if (account is None or doc["account"] == account) and (region is None or doc["region"] == region):
            out.append(doc)
    return out


def is_open(conn: Redis, change_key: str) -> bool:
    """Whether a change already has an open alert."""
    return bool(conn.hexists(OPEN, change_key))


def raise_alert(conn: Redis, settings: Settings, doc: dict[str, Any]) -> dict[str, Any]:
    """Post a new alert in the alert channel and keep it."""
    doc.setdefault("id", approvals.new_id())
    doc.setdefault("created", time.time())
    doc.setdefault("status", "open")
    if not doc.get("approved") and settings.alert_mention:
        doc["mention"] = settings.alert_mention
    channel = settings.alert_channel
    if channel:
        posted = slack.post(slack.web_client(settings), channel, blocks.alert(doc))
        doc["posted"] = {"channel": posted.channel, "ts": posted.ts}
    save(conn, doc)
    auditlog.write(conn, "alert", None, None, alert=doc["id"], title=doc["title"], approved=bool(doc.get("approved")))
    return doc


def refresh(conn: Redis, settings: Settings, doc: dict[str, Any]) -> None:
    """Save an alert and redraw its message."""
    save(conn, doc)
    if doc.get("posted"):
        posted = slack.Posted(doc["posted"]["channel"], doc["posted"]["ts"])
        slack.update(slack.web_client(settings), posted, blocks.alert(doc))


def thread(settings: Settings, doc: dict[str, Any], message: dict[str, Any]) -> None:
    """Reply in an alert's thread."""
    if doc.get("posted"):
        slack.post(slack.web_client(settings), doc["posted"]["channel"], message, thread_ts=doc["posted"]["ts"])


def acknowledge(conn: Redis, settings: Settings, alert_id: str, user: str) -> dict[str, Any]:
    """Record who took an alert (once), and show it on the alert."""
    doc = load(conn, alert_id)
    if doc.get("acked_by"):
        raise Refused(f"Already acknowledged by <@{doc['acked_by']}>.")
    doc["acked_by"], doc["acked_at"] = user, time.time()
    refresh(conn, settings, doc)
    auditlog.write(conn, "acknowledged", None, user, alert=alert_id)
    return doc


def recover(conn: Redis, settings: Settings, doc: dict[str, Any], by: str) -> None:
    """Tell the alert's thread its field is back, and close it."""
    doc["status"], doc["recovered_at"], doc["recovered_by"] = "recovered", time.time(), by
    thread(settings, doc, blocks.recovery(doc, by))
    refresh(conn, settings, doc)
    auditlog.write(conn, "recovered", None, None, alert=doc["id"], by=by)


def repost_unacknowledged(conn: Redis, settings: Settings, now: float | None = None) -> int:
    """Post again, with the mention, every open alert nobody acknowledged within the set time (once each)."""
    now = time.time() if now is None else now
    count = 0
    for doc in open_alerts(conn):
        late = now - doc["created"] > settings.alert_repost_minutes * 60
        if late and not doc.get("acked_by") and not doc.get("reposted") and settings.alert_channel:
            slack.post(
                slack.web_client(settings),
                settings.alert_channel,
                blocks.repost(doc, settings.alert_repost_minutes, settings.alert_mention),
            )
            doc["reposted"] = now
            save(conn, doc)
            count += 1
    return count
