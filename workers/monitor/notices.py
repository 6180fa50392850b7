"""What the monitor says of itself in the alert channel: a blind spot (part of an account it cannot watch) and
its end, and a pushed event path that looks broken and its healing. Each is a flag in Redis committed with
its one notice, so two workers say it once."""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.core.mrkdwn import escape
from workers.core.settings import Settings
from workers.slack import outbox
from workers.slack.messages.kit import clip, section
from workers.state import monitor_records, outgoing


def event_path(account: str, region: str) -> str:
    """How the pushed event path of one account and region is named (in its flag and its notices)."""
    return f"the pushed event path of {account} {region}"


def silent_paths(conn: Redis, settings: Settings, open_alerts: list[dict[str, Any]]) -> None:
    """With the pushed event path on, a change the poller alerted (among an account's open alerts) that no
    pushed event announced within TRAIL_AUDIT_EVENTS_GRACE_SECONDS means the path is broken there: said once
    (its healing too: `healed`)."""
    if not settings.events_queue_url:
        return
    now = time.time()
    for doc in open_alerts:
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


def blind(conn: Redis, settings: Settings, who: str, why: str) -> None:
    """Say once, in the alert channel, that part of an account cannot be watched (never a silent blind spot)."""
    text = f":warning: The monitor cannot watch all of {escape(who)}: {escape(why)}. Changes there would go unnoticed."
    flag(conn, settings, who, why, f"blind-{who}-{int(time.time())}", text)


def sighted(conn: Redis, settings: Settings, *names: str) -> None:
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
