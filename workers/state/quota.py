"""Requests a user or a channel may make a minute: counted in Redis, shared by every web process."""

from __future__ import annotations

import time

from redis import Redis

from workers.state import keys


def spend(conn: Redis, kind: str, who: str, per_minute: int, now: float | None = None) -> bool:
    """Count one request of `kind` by `who` in the current minute; False (and not counted) when over its quota."""
    minute = int((time.time() if now is None else now) // 60)
    key = keys.quota(kind, who, minute)
    pipe = conn.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, keys.QUOTA_TTL)
    used = int(pipe.execute()[0])
    if used > per_minute:
        conn.decr(key)
        return False
    return True
