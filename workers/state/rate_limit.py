"""A rate limit shared by every worker: calls under one key spaced at least 1/rate seconds apart, in Redis.

`LookupEvents` allows about 2 requests a second per account and region, whichever worker makes them. The
next free slot of each key is kept in Redis and taken atomically by a small Lua script.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

from workers.state import keys

_TAKE = """
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], tostring(slot + gap), 'PX', tonumber(ARGV[3]))
return tostring(slot - now)
"""


class RedisLimiter:
    """`acquire(key)` blocks until the key's next slot, shared across processes; returns the seconds waited."""

    def __init__(self, conn: Redis, rate: float = 2.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.gap = 1.0 / rate
        self._take = conn.register_script(_TAKE)
        self._sleep = sleep

    def acquire(self, key: str) -> float:
        """Take the next slot under `key` and wait for it."""
        args: list[str | int] = [f"{time.time():.6f}", f"{self.gap:.6f}", keys.SLOT_TTL_MS]
        wait = float(self._take(keys=[keys.rate(key)], args=args))
        if wait > 0:
            self._sleep(wait)
        return wait
