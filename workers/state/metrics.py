"""Counters the workers keep for `GET /metrics`: AWS errors by code, Slack errors by method, alerts raised.

Workers run on other machines than the web process, so their counts go to Redis (one hash a metric, field
the labels as JSON), where the web process reads them at each scrape. A process counts in memory (`note`,
cheap and lock-guarded) and adds its counts to Redis when a job ends (`flush`); an alert is counted in the
same commit that raises it (`stage`). Counting never fails the work: a flush that cannot reach Redis keeps
its counts for the next one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from workers.state import keys

if TYPE_CHECKING:  # the CLI counts AWS errors too, and needs no Redis: nothing of it is imported for that
    from redis import Redis
    from redis.client import Pipeline

log = logging.getLogger("trail_audit.metrics")

# name -> (help, label names); exposed as trail_audit_<name>_total
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws_errors": ("AWS API calls that failed, by service, operation and error code", ("service", "operation", "code")),
    "slack_errors": ("Slack Web API calls that failed, by method and error", ("method", "error")),
    "alerts_raised": ("Tamper alerts raised, by the path that saw them first (poll or push)", ("seen_by",)),
}
_LOCAL: Counter[tuple[str, str]] = Counter()
_LOCK = threading.Lock()


def _labels(name: str, labels: dict[str, Any]) -> str:
    return json.dumps({k: str(labels.get(k, ""))[:80] for k in COUNTERS[name][1]}, sort_keys=True)


def note(name: str, **labels: Any) -> None:
    """Count one event in this process (added to Redis by the next `flush`)."""
    with _LOCK:
        _LOCAL[(name, _labels(name, labels))] += 1


def stage(pipe: Pipeline, name: str, n: int = 1, **labels: Any) -> None:
    """Count in the caller's commit."""
    pipe.hincrby(keys.metric(name), _labels(name, labels), n)


def flush(conn: Redis) -> int:
    """Add this process's counts to Redis; returns how many series were written (0 when Redis is away)."""
    with _LOCK:
        pending = dict(_LOCAL)
        _LOCAL.clear()
    if not pending:
        return 0
    from redis.exceptions import RedisError

    try:
        pipe = conn.pipeline(transaction=False)
        for (name, labels), n in pending.items():
            pipe.hincrby(keys.metric(name), labels, n)
        pipe.execute()
    except RedisError as exc:
        log.warning("metrics kept for the next flush", extra={"error": type(exc).__name__})
        with _LOCK:
            _LOCAL.update(pending)
        return 0
    return len(pending)


def totals(conn: Redis, name: str) -> list[tuple[dict[str, str], float]]:
    """A counter's series from Redis: (labels, value)."""
    out = []
    for raw, value in conn.hgetall(keys.metric(name)).items():
        labels = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        out.append((labels, float(value)))
    return out
