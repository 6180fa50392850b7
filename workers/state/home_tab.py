"""The App Home's records: who opened it (the newest kept, redrawn on changes) and whether it is out of date
(set in the commits of alerts, requests and audits)."""

from __future__ import annotations

import time
from typing import Any

from redis import Redis

from workers.state import keys


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def opened(conn: Redis, user: str, keep: int) -> None:
    """Remember a user who opened the Home (only the newest `keep` are kept)."""
    conn.zadd(keys.HOME_USERS, {user: time.time()})
    conn.zremrangebyrank(keys.HOME_USERS, 0, -keep - 1)


def openers(conn: Redis) -> list[str]:
    """The users whose Home is redrawn on changes."""
    return [_text(u) for u in conn.zrange(keys.HOME_USERS, 0, -1)]


def take_dirty(conn: Redis) -> bool:
    """Whether the Home is out of date (and, if so, no longer marked: this caller redraws it)."""
    return bool(conn.getdel(keys.HOME_DIRTY))
