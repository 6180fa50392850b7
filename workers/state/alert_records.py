"""Tamper alert records: each a hash (doc, status, who acknowledged or recovered it), the open-alert index by
change key, each region's recent alerts, and the groups that one message shows.

Status changes go through `workers.state.machine` (open -> acknowledged -> recovered, open -> recovered).
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys, machine
from workers.state.machine import Refused


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def load(conn: Redis, alert_id: str) -> dict[str, Any]:
    """An alert by id (doc, status, acknowledgement, recovery); unknown or malformed ids are refused."""
    if not (alert_id.isalnum() and len(alert_id) <= 32):
        raise Refused("There is no such alert (unknown, or not from this workspace).")
    names = ("doc", "status", "acked_by", "acked_at", "recovered_by", "recovered_at")
    raw = dict(zip(names, conn.hmget(keys.alert(alert_id), *names), strict=True))
    if raw["doc"] is None:
        raise Refused("There is no such alert (unknown, or not from this workspace).")
    doc = dict(json.loads(raw["doc"]))
    doc["status"] = _text(raw["status"])
    for name in names[2:]:
        if raw[name] is not None:
            value = _text(raw[name])
            doc[name] = float(value) if name.endswith("_at") else value
    return doc


def save_doc(conn: Redis, doc: dict[str, Any]) -> None:
    """Write an alert's doc (not its status: that changes only by a transition)."""
    conn.hset(keys.alert(doc["id"]), "doc", doc_text(doc))


def doc_text(doc: dict[str, Any]) -> str:
    """An alert's doc as stored (its status and who acknowledged or recovered it are fields of their own)."""
    skip = {"status", "acked_by", "acked_at", "recovered_by", "recovered_at"}
    return json.dumps({k: v for k, v in doc.items() if k not in skip}, default=str)


def open_alerts(conn: Redis, account: str | None = None, region: str | None = None) -> list[dict[str, Any]]:
    """Alerts not yet recovered (open or acknowledged), optionally of one account and region."""
    out = []
    for raw_id in conn.hvals(keys.ALERTS_OPEN):
        try:
            doc = load(conn, _text(raw_id))
        except Refused:
            continue
        if (account is None or doc["account"] == account) and (region is None or doc["region"] == region):
            out.append(doc)
    return out


def recent(conn: Redis, account: str, region: str) -> list[dict[str, Any]]:
    """A region's alerts of the last hours, whatever their status (a late event may still explain one)."""
    key = keys.alerts_recent(account, region)
    out = []
    for raw_id in conn.zrangebyscore(key, time.time() - keys.ALERTS_RECENT_KEEP, "+inf"):
        try:
            out.append(load(conn, _text(raw_id)))
        except Refused:
            continue
    return out


def is_open(conn: Redis, change_key: str) -> bool:
    """Whether a change already has an alert that is not recovered."""
    return bool(conn.hexists(keys.ALERTS_OPEN, change_key))


def members(conn: Redis, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alert shown in the same message as `doc` (itself included)."""
    if not doc.get("group"):
        return [doc]
    out = []
    for raw in conn.lrange(keys.alert_group(doc["group"]), 0, -1):
        try:
            out.append(load(conn, _text(raw)))
        except Refused:
            continue
    return out or [doc]


def group_of(conn: Redis, group: str) -> list[dict[str, Any]]:
    """The alerts of a group id (from a "Restore all" or "Acknowledge all" button)."""
    if not (group.isalnum() and len(group) <= 32):
        raise Refused("There is no such alert group.")
    found = members(conn, {"group": group, "id": ""})
    if not [d for d in found if d.get("id")]:
        raise Refused("There is no such alert group.")
    return found


def stage_new(pipe: Pipeline, docs: list[dict[str, Any]], group: str) -> None:
    """Stage new alerts (their records, open-index entries, recent lists) as members of one group."""
    for doc in docs:
        indexed = doc["field"] not in ("attempt", "event")  # an event or attempt alert holds no change key
        machine.create_alert(pipe, doc["id"], doc["key"], doc_text(doc), indexed=indexed)
        pipe.zadd(keys.alerts_recent(doc["account"], doc["region"]), {doc["id"]: doc["created"]})
    pipe.rpush(keys.alert_group(group), *[d["id"] for d in docs])
    pipe.expire(keys.alert_group(group), keys.MESSAGE_TTL)


def stage_in_place_of(pipe: Pipeline, doc: dict[str, Any], old_id: str, group: str) -> None:
    """Stage a new alert that takes an old one's place in its group (one message, redrawn)."""
    machine.create_alert(pipe, doc["id"], doc["key"], doc_text(doc))
    pipe.zadd(keys.alerts_recent(doc["account"], doc["region"]), {doc["id"]: doc["created"]})
    pipe.lrem(keys.alert_group(group), 0, old_id)
    pipe.rpush(keys.alert_group(group), doc["id"])


def stage_doc(pipe: Pipeline, doc: dict[str, Any]) -> None:
    """Stage an alert's doc (not its status: that changes only by a transition)."""
    pipe.hset(keys.alert(doc["id"]), "doc", doc_text(doc))


def open_count(conn: Redis) -> int:
    """How many alerts are not yet recovered."""
    return int(conn.hlen(keys.ALERTS_OPEN))


def group_exists(conn: Redis, group: str) -> bool:
    """Whether a group id (well formed) names a group of alerts."""
    return group.isalnum() and len(group) <= 32 and bool(conn.exists(keys.alert_group(group)))
