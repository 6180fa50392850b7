"""Request records: each a hash (its doc, its status, its decision), and the status indexes the transition
table keeps (`workers.state.machine`). The `Request` shape itself is the remediation's."""

from __future__ import annotations

import json
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys

Reader = Redis | Pipeline


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read(conn: Redis, request_id: str) -> tuple[dict[str, Any], str] | None:
    """A request's doc and status (None when there is no such request)."""
    raw, status = conn.hmget(keys.request(request_id), "doc", "status")
    if raw is None or status is None:
        return None
    return dict(json.loads(raw)), _text(status)


def decision(reader: Reader, request_id: str) -> dict[str, Any] | None:
    """The decision recorded on a request, if any."""
    raw = reader.hget(keys.request(request_id), "decision")
    return dict(json.loads(raw)) if raw else None


def is_decided(pipe: Pipeline, request_id: str) -> bool:
    """Whether a decision is recorded (read under WATCH, inside a transition)."""
    return bool(pipe.hexists(keys.request(request_id), "decision"))


def stage_decision(pipe: Pipeline, request_id: str, made: dict[str, Any]) -> None:
    """Stage the decision in the transition that records it."""
    pipe.hset(keys.request(request_id), "decision", json.dumps(made))


def indexed(conn: Redis, index: str) -> list[str]:
    """The request ids a status index holds."""
    return [_text(r) for r in conn.smembers(index)]


def unindex(conn: Redis, index: str, request_id: str) -> None:
    """Drop an id whose record is gone from a status index."""
    conn.srem(index, request_id)


def exists(conn: Redis, request_id: str) -> bool:
    """Whether a request id (well formed) names a request."""
    return request_id.isalnum() and len(request_id) <= 32 and bool(conn.exists(keys.request(request_id)))
