"""The audit log: every request, decision, execution, API call and result, append-only in a Redis stream.

Redis keeps it on disk with its append-only file (docker-compose.yml). Entries are never edited or removed
by trail-audit; `/trail-audit log [n]` shows the newest. `stage` adds an entry inside a state transition's
commit, so the log never says something happened that did not.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys


def _fields(event: str, request: str | None, actor: str | None, detail: dict[str, Any]) -> dict[str, str]:
    return {
        "at": f"{time.time():.3f}",
        "event": event,
        "request": request or "",
        "actor": actor or "",
        "detail": json.dumps(detail, default=str, sort_keys=True),
    }


def write(conn: Redis, event: str, request: str | None = None, actor: str | None = None, **detail: Any) -> str:
    """Append one entry; returns its stream id."""
    return str(conn.xadd(keys.LOG, _fields(event, request, actor, detail)))  # type: ignore[arg-type]


def stage(pipe: Pipeline, event: str, request: str | None = None, actor: str | None = None, **detail: Any) -> None:
    """Append one entry as part of a transaction."""
    pipe.xadd(keys.LOG, _fields(event, request, actor, detail))  # type: ignore[arg-type]


def newest(conn: Redis, n: int = 20) -> list[dict[str, Any]]:
    """The newest `n` entries, newest first."""
    out = []
    for entry_id, fields in conn.xrevrange(keys.LOG, count=n):  # type: ignore[union-attr]
        doc: dict[str, Any] = {_text(k): _text(v) for k, v in (fields or {}).items()}
        doc["detail"] = json.loads(doc["detail"])
        doc["id"] = _text(entry_id)
        out.append(doc)
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
