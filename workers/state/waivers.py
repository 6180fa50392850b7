"""Waivers in force: one Redis hash, finding uid -> waiver, and when each ends.

A waiver is put in force and ended inside its request's transition (the caller's commit), so a waiver is in
force exactly while its request is active.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys


def stage_accept(pipe: Pipeline, doc: dict[str, Any]) -> None:
    """Put a waiver in force (in the caller's commit) and schedule its end."""
    pipe.hset(keys.WAIVERS, doc["uid"], json.dumps(doc))
    pipe.zadd(keys.WAIVERS_DUE, {doc["request"]: doc["until"]})


def due(conn: Redis, now: float | None = None) -> list[str]:
    """The request ids of waivers whose time is up."""
    ended = conn.zrangebyscore(keys.WAIVERS_DUE, 0, time.time() if now is None else now)
    return [r.decode() if isinstance(r, bytes) else str(r) for r in ended]


def in_force(conn: Redis, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Every waiver in force, by finding uid (one whose end has passed but not yet been swept is not)."""
    now = time.time() if now is None else now
    out = {}
    for raw in conn.hvals(keys.WAIVERS):
        doc = json.loads(raw)
        if doc.get("until", 0) > now:
            out[doc["uid"]] = doc
    return out


def stage_end(pipe: Pipeline, uid: str, request_id: str) -> None:
    """End a waiver (in the caller's commit): the finding counts again."""
    pipe.hdel(keys.WAIVERS, uid)
    pipe.zrem(keys.WAIVERS_DUE, request_id)


def unschedule(conn: Redis, request_id: str) -> None:
    """Forget the end of a waiver that is no longer in force."""
    conn.zrem(keys.WAIVERS_DUE, request_id)
