"""Executed trail-audit actions, kept a day: the monitor labels the changes they made as approved."""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

from workers.state import keys

ACTIONS = keys.ACTIONS  # sorted set: executed actions (JSON) by the time they ended
KEEP = keys.ACTIONS_TTL


def record(conn: Redis, action: dict[str, Any]) -> None:
    """Remember an executed action: request, action, account, region, resource, requester, approver, times."""
    conn.zadd(ACTIONS, {json.dumps(action, sort_keys=True): action["ended"]})
    conn.zremrangebyscore(ACTIONS, 0, time.time() - KEEP)


def since(conn: Redis, start: float) -> list[dict[str, Any]]:
    """Actions that ended at or after `start`."""
    found = conn.zrangebyscore(ACTIONS, start, "+inf")
    return [json.loads(m.decode() if isinstance(m, bytes) else str(m)) for m in found]
