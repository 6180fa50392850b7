"""What the web process caches of Slack's answers (a user's profile, a user group's members), kept a while.

A cache that Redis cannot serve is a miss, never a failure: the caller asks Slack instead.
"""

from __future__ import annotations

import json
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from workers.state import keys


def _read(conn: Redis, key: str) -> Any:
    try:
        raw = conn.get(key)
    except RedisError:
        return None
    return json.loads(raw) if raw else None


def _write(conn: Redis, key: str, value: Any) -> None:
    try:
        conn.set(key, json.dumps(value), ex=keys.PROFILE_TTL)
    except RedisError:
        return


def profile(conn: Redis, user: str) -> dict[str, Any] | None:
    """A user's cached profile (team, enterprise, guest, deleted), if kept."""
    found = _read(conn, keys.profile(user))
    return dict(found) if isinstance(found, dict) else None


def keep_profile(conn: Redis, user: str, value: dict[str, Any]) -> None:
    """Keep a user's profile a while."""
    _write(conn, keys.profile(user), value)


def group_members(conn: Redis, group: str) -> list[str] | None:
    """A user group's cached members, if kept."""
    found = _read(conn, keys.group_members(group))
    return [str(u) for u in found] if isinstance(found, list) else None


def keep_group_members(conn: Redis, group: str, users: list[str]) -> None:
    """Keep a user group's members a while."""
    _write(conn, keys.group_members(group), users)
