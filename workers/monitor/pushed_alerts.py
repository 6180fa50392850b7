"""Pushed CloudTrail calls recorded as alerts: one alert per change, whichever path sees it first.

For each call, in one Redis transaction with the ids of the calls it handled (so a redelivered event, or one
the poller already read from LookupEvents, is never alerted twice):

- a call an open alert already shows (the poller saw the state change first) only names who made it there;
- a call that turns a known-good field off becomes the alert the poller would raise for that field, under the
  same key, with before and after from the region's last known state: the poller then finds it open and
  raises nothing, and closes it when the field is back;
- any other call that takes monitoring away, and a failed attempt, becomes an event alert (as the poller
  makes them from LookupEvents);
- a call that turns a field back on closes the open alert about it (stop, then restart: alerted, then closed).

Alerts of one account and region within TRAIL_AUDIT_EVENTS_BURST_SECONDS join one message.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.aws import organization
from workers.aws.event_history import ChangeEvent
from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings
from workers.monitor import alerts, attribution, pushed, tampering
from workers.monitor.notices import healed
from workers.monitor.watch import restore_offer, state_alert
from workers.slack import outbox
from workers.state import alert_records, executed_actions, monitor_records
from workers.state.machine import Refused

LOOKBACK = 3600  # seconds of trail-audit's own approved actions that may explain a call


def record(conn: Redis, settings: Settings, events: list[ChangeEvent]) -> int:
    """Record pushed calls (any accounts and regions); returns how many alerts they raised."""
    places: dict[tuple[str, str], list[ChangeEvent]] = defaultdict(list)
    for event in events:
        places[(event.account, event.region)].append(event)
    return sum(_record_place(conn, settings, account, region, found) for (account, region), found in places.items())


def _record_place(conn: Redis, settings: Settings, account: str, region: str, events: list[ChangeEvent]) -> int:
    routed = organization.channel_for(settings, account)
    burst = monitor_records.burst_key(account, region)
    outcome: dict[str, Any] = {}

    def read(pipe: Pipeline) -> monitor_records.Changes | None:
        outcome.clear()
        state = (monitor_records.region_state(pipe, account, region) or {}).get("state") or {}
        fresh = [e for e in events if not monitor_records.is_seen(pipe, e.event_id) and tampering.concerns(e, state)]
        if not fresh:
            return None
        now = time.time()
        actions = executed_actions.since(pipe, now - LOOKBACK)
        opened = alert_records.open_alerts(pipe, account, region)
        docs, enriched, closed = _alerts_for(settings, account, region, fresh, state, actions, opened, now)
        for doc in docs:
            doc["channel"] = routed
        joining = _burst(pipe, burst)
        outcome.update(enriched=enriched, closed=closed)
        lasts = (burst, int(settings.events_burst_seconds * 1000)) if settings.events_burst_seconds > 0 else None
        return monitor_records.Changes(docs, {e.event_id for e in fresh}, None, lasts,
                                       lambda p, ds: alerts.stage_group(p, settings, ds, joining))  # fmt: skip

    # the poller's commit too: a poller's alert committed meanwhile is seen on the retry (and enriched, not doubled)
    seen = monitor_records.seen_keys([e.event_id for e in events])
    raised, message = monitor_records.commit_alerts(conn, account, region, read, *seen, burst)
    outbox.kick(conn, [message] if message else [])
    for doc in outcome.get("enriched", []):
        alerts.refresh(conn, settings, doc)
    healed(conn, settings, account, region)
    for doc, event in outcome.get("closed", []):
        alerts.recover(conn, settings, doc, f"restored by {code(event.actor)} at {escape(event.time)} "
                                            f"from {escape(event.source_ip)}")  # fmt: skip
    return len(raised)


def _burst(pipe: Pipeline, key: str) -> tuple[str, list[dict[str, Any]]] | None:
    """The group a new alert joins: the one a burst of this account and region opened, while its key lasts."""
    group = monitor_records.burst_group(pipe, key)
    if group is None:
        return None
    try:
        return group, alert_records.group_of(pipe, group)
    except Refused:
        return None


def _alerts_for(
    settings: Settings,
    account: str,
    region: str,
    fresh: list[ChangeEvent],
    state: dict[str, Any],
    actions: list[dict[str, Any]],
    opened: list[dict[str, Any]],
    now: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[dict[str, Any], ChangeEvent]]]:
    docs: list[dict[str, Any]] = []
    enriched: list[dict[str, Any]] = []
    closed: list[tuple[dict[str, Any], ChangeEvent]] = []
    for event in fresh:
        shown = next((d for d in opened if d["field"] not in ("attempt", "event") and not pushed.undoes(event, d)
                      and attribution.attribute(d, [event]) is not None), None)  # fmt: skip
        if shown is not None:
            if not shown.get("pushed"):
                shown["pushed"] = True  # the event path announced it (late, or after the poller)
                if not shown.get("attribution"):
                    shown["attribution"] = event.to_dict()
                shown.pop("lookup_error", None)
                enriched.append(shown)
            continue
        closed += [(d, event) for d in opened if pushed.undoes(event, d)]
        if event.failed:
            docs += [alerts.new(settings, d) for d in tampering.attempts(account, region, [event])]
            continue
        change = pushed.change_of(event, state)
        if change is not None and change.key not in {d["key"] for d in docs}:
            doc = state_alert(change)
            doc |= {"attribution": event.to_dict(), "seen_by": "push", "pushed": True}
            doc["approved"] = attribution.correlate(doc, actions, now - LOOKBACK)
            doc["restore"] = restore_offer(doc)
            docs.append(alerts.new(settings, doc))
            continue
        if change is None and not pushed.harmless(event, state):
            made = tampering.event_alerts(account, region, [event], fresh, 0.0, actions)
            docs += [alerts.new(settings, d | {"seen_by": "push", "pushed": True}) for d in made]
    return docs, enriched, closed
