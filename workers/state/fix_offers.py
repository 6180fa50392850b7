"""What a report's "Request fix" button refers to: the finding behind an opaque id, kept a week."""

from __future__ import annotations

import json
from typing import Any

from redis import Redis

from workers.core.ids import new_id
from workers.state import keys


def remember(
    conn: Redis, finding: dict[str, Any], role_arn: str | None, message: str | None = None, channel: str | None = None
) -> str:
    """Store what a report's "Request fix" button refers to, and the report (its outbox id and channel) it is
    on; returns the opaque id the button carries."""
    fix_id = new_id()
    doc = {k: finding[k] for k in ("check", "account", "region", "resource", "remediation")}
    doc |= {"role_arn": role_arn, "message": message, "channel": channel}
    conn.set(keys.fix(fix_id), json.dumps(doc), ex=keys.FIX_TTL)
    return fix_id


def recall(conn: Redis, fix_id: str) -> dict[str, Any] | None:
    """The finding behind a button's id; None when the id is unknown, malformed or expired."""
    raw = conn.get(keys.fix(fix_id)) if fix_id.isalnum() and len(fix_id) <= 32 else None
    return dict(json.loads(raw)) if raw else None
