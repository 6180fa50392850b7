"""A backout's deadline and reminder, and the leases that keep its restore from running twice.

The deadline is committed before a backout's calls are made; a fired deadline stays due a lease ahead, so a
restore whose worker died is fired again by the next sweep.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys
from workers.state.durability import replicated


def _ids(raw: Any) -> list[str]:
    return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]


def schedule(conn: Redis, request_id: str, doc: str, deadline: float, remind_at: float) -> None:
    """Commit a backout's deadline and reminder with its document, before any of its calls is made."""
    pipe = conn.pipeline(transaction=True)
    pipe.hset(keys.request(request_id), "doc", doc)
    pipe.zadd(keys.REENABLE_DUE, {request_id: deadline})
    pipe.zadd(keys.REENABLE_REMIND, {request_id: remind_at})
    pipe.sadd(keys.REQUESTS_ACTIVE, request_id)
    pipe.execute()
    replicated(conn)  # the deadline is on a replica before any call is made


def retry_at(pipe: Pipeline, request_id: str, when: float) -> None:
    """Stage the restore to be tried again at `when` (it failed)."""
    pipe.zadd(keys.REENABLE_DUE, {request_id: when})


def clear(pipe: Pipeline, request_id: str) -> None:
    """Stage the end of a backout's deadline and reminder (it was restored)."""
    pipe.zrem(keys.REENABLE_DUE, request_id)
    pipe.zrem(keys.REENABLE_REMIND, request_id)


def drop(conn: Redis, request_id: str) -> None:
    """Forget a deadline that has nothing left to restore."""
    conn.zrem(keys.REENABLE_DUE, request_id)


def fire_due(conn: Redis, now: float, lease: float) -> list[str]:
    """The backouts whose deadline passed; each stays due `lease` seconds ahead until its restore commits."""
    due = _ids(conn.zrangebyscore(keys.REENABLE_DUE, 0, now))
    for rid in due:
        conn.zadd(keys.REENABLE_DUE, {rid: now + lease}, xx=True)
    return due


def reminders_due(conn: Redis, now: float) -> list[str]:
    """The backouts whose reminder is due, each taken once (whoever sweeps first)."""
    due = _ids(conn.zrangebyscore(keys.REENABLE_REMIND, 0, now))
    return [rid for rid in due if conn.zrem(keys.REENABLE_REMIND, rid)]


def take_restore(conn: Redis, request_id: str, actor: str, lease: float) -> bool:
    """The lease of one restore at a time (held no longer than `lease`, so a dead worker blocks no one)."""
    return bool(conn.set(keys.request_restoring(request_id), actor, nx=True, ex=int(lease)))


def release_restore(conn: Redis, request_id: str) -> None:
    """Give the restore lease back."""
    conn.delete(keys.request_restoring(request_id))


def take_requeue(conn: Redis, request_id: str, lease: float) -> bool:
    """Whether this sweep may queue a stuck execution again (once per `lease`)."""
    return bool(conn.set(keys.request_requeued(request_id), "1", nx=True, ex=int(lease)))
