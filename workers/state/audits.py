"""Audit reports: each finished audit's report (kept a week) and the last audit's counts."""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys

KEEP = keys.AUDIT_TTL  # seconds an audit's report and state are kept
TREND = 30  # audits whose counts the Home's trend shows


def stage_report(
    pipe: Pipeline, audit_id: str, doc: dict[str, Any], counts: dict[str, int], scope: str | None = None
) -> None:
    """Commit a finished audit's report, make it the last audit (of all, and of its `scope`), keep its counts
    in the trend (the last 30 audits), and have the App Home redrawn."""
    pipe.set(keys.audit_report(audit_id), json.dumps(doc), ex=KEEP)
    last = {"id": audit_id, "finished": time.time(), "counts": counts}
    pipe.set(keys.LAST_AUDIT, json.dumps(last), ex=KEEP)
    if scope is not None:
        pipe.set(keys.audit_of_scope(scope), audit_id, ex=KEEP)
    pipe.lpush(keys.AUDIT_TREND, json.dumps(last | {"changes": (doc.get("delta") or {}).get("counts")}))
    pipe.ltrim(keys.AUDIT_TREND, 0, TREND - 1)
    pipe.set(keys.HOME_DIRTY, "1")


def claim_report_slot(conn: Redis, due: float) -> bool:
    """Claim the scheduled report of fire time `due` (True once, whichever clock asks first)."""
    return bool(conn.set(keys.report_slot(due), "1", nx=True, ex=KEEP))


def last_of_scope(conn: Redis, scope: str) -> dict[str, Any] | None:
    """The report of the last finished audit of `scope` (`delta.scope`), while it is kept."""
    audit_id = conn.get(keys.audit_of_scope(scope))
    return report(conn, audit_id.decode() if isinstance(audit_id, bytes) else str(audit_id)) if audit_id else None


def trend(conn: Redis) -> list[dict[str, Any]]:
    """The last audits' counts by status (and their changes), oldest first."""
    return [json.loads(raw) for raw in reversed(conn.lrange(keys.AUDIT_TREND, 0, -1))]


def report(conn: Redis, audit_id: str) -> dict[str, Any] | None:
    """A finished audit's report; None for an unknown, malformed or expired id."""
    raw = conn.get(keys.audit_report(audit_id)) if audit_id.isalnum() and len(audit_id) <= 32 else None
    return dict(json.loads(raw)) if raw else None


def exists(conn: Redis, audit_id: str) -> bool:
    """Whether a finished audit's report is still kept."""
    return audit_id.isalnum() and len(audit_id) <= 32 and bool(conn.exists(keys.audit_report(audit_id)))


def last(conn: Redis) -> dict[str, Any] | None:
    """The last finished audit: its id, when, and its counts by shown status."""
    raw = conn.get(keys.LAST_AUDIT)
    return dict(json.loads(raw)) if raw else None


def save_running(conn: Redis, audit_id: str, state: dict[str, Any]) -> None:
    """Keep a running audit's state (its request, targets and plan, and when it started) for its jobs."""
    started = state.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    conn.set(keys.audit(audit_id), json.dumps({**state, "started": started}), ex=KEEP)


def running(conn: Redis, audit_id: str) -> dict[str, Any] | None:
    """A running (or finished) audit's state; None when it is gone."""
    raw = conn.get(keys.audit(audit_id))
    return dict(json.loads(raw)) if raw else None


def count_done(conn: Redis, audit_id: str, n: int, every: float) -> int | None:
    """Count `n` more units of an audit done; the total when its progress may be shown now (at most once every
    `every` seconds), else None."""
    done = int(conn.incrby(keys.audit_done(audit_id), n))
    conn.expire(keys.audit_done(audit_id), KEEP)
    return done if conn.set(keys.audit_tick(audit_id), "1", nx=True, px=int(every * 1000)) else None
