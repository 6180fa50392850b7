"""The audit log: every request, decision, execution, API call and result, append-only in a Redis stream.

Redis keeps it on disk with its append-only file (docker-compose.yml). Entries are never edited or removed
by trail-audit; `/trail-audit log [n]` shows the newest.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

STREAM = "ta:log"


def write(conn: Redis, event: str, request: str | None = None, actor: str | None = None, **detail: Any) -> str:
    """Append one entry; returns its stream id."""
    fields = {
        "at": f"{time.time():.3f}",
        "event": event,
        "request": request or "",
        "actor": actor or "",
        "detail": json.dumps(detail, default=str, sort_keys=True),
    }
    return str(conn.xadd(STREAM, fields))  # type: ignore[arg-type]


def newest(conn: Redis, n: int = 20) -> list[dict[str, Any]]:
    """The newest `n` entries, newest first."""
    out = []
    for entry_id, fields in conn.xrevrange(STREAM, count=n):  # type: ignore[union-attr]
        doc: dict[str, Any] = {_text(k): _text(v) for k, v in (fields or {}).items()}
        doc["detail"] = json.loads(doc["detail"])
        doc["id"] = _text(entry_id)
        out.append(doc)
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
