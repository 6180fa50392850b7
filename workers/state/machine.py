"""Status changes of requests and alerts: explicit tables, each change one atomic compare-and-set.

A transition reads the current status under WATCH, checks that the table allows the move, and commits the
new status together with what the caller stages in the same MULTI (a doc, outbox messages, a deadline, log
entries). A concurrent writer makes Redis retry the read; a move the table refuses is logged and changes
nothing. So a message about a change can never be committed without the change, nor the change without it.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys
from workers.state.durability import replicated

log = logging.getLogger("trail_audit.state")
Stage = Callable[[Pipeline], None]


class RequestStatus(enum.StrEnum):
    """Where a fix or backout request is in its life."""

    PLANNING = "planning"
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    EXECUTING = "executing"
    ACTIVE = "backout active"
    DONE = "done"
    FAILED = "failed"
    STALE = "not run: state changed"
    UNKNOWN = "failed, state unknown"
    RESTORED = "restored"
    RECHECKED = "rechecked"


class AlertStatus(enum.StrEnum):
    """Where a tamper alert is in its life."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RECOVERED = "recovered"


R = RequestStatus
REQUEST_MOVES: dict[RequestStatus, frozenset[RequestStatus]] = {
    R.PLANNING: frozenset({R.PENDING, R.FAILED}),
    R.PENDING: frozenset({R.APPROVED, R.DENIED, R.EXPIRED, R.FAILED}),
    R.APPROVED: frozenset({R.EXECUTING}),
    R.EXECUTING: frozenset({R.DONE, R.FAILED, R.ACTIVE, R.UNKNOWN, R.STALE, R.RESTORED}),
    R.ACTIVE: frozenset({R.RESTORED, R.EXPIRED}),  # a backout restored; a waiver ended
    R.UNKNOWN: frozenset({R.RESTORED, R.RECHECKED}),
}
A = AlertStatus
ALERT_MOVES: dict[AlertStatus, frozenset[AlertStatus]] = {
    A.OPEN: frozenset({A.ACKNOWLEDGED, A.RECOVERED}),
    A.ACKNOWLEDGED: frozenset({A.RECOVERED}),
}

# which index set holds a request in each status (statuses not listed are in none)
REQUEST_INDEX = {
    R.PLANNING: keys.REQUESTS_PENDING,
    R.PENDING: keys.REQUESTS_PENDING,
    R.APPROVED: keys.REQUESTS_APPROVED,
    R.EXECUTING: keys.REQUESTS_EXECUTING,
    R.ACTIVE: keys.REQUESTS_ACTIVE,
    R.UNKNOWN: keys.REQUESTS_ACTIVE,  # listed with the backouts in force until restored or re-checked
}


class Refused(Exception):
    """A click or command that may not proceed, with the sentence to show its author."""


def allowed(moves: dict[Any, frozenset[Any]], frm: Any, to: Any) -> bool:
    """Whether the table allows `frm -> to`."""
    return to in moves.get(frm, frozenset())


def _mapping(fields: dict[str, str]) -> dict[Any, Any]:
    return dict(fields)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def create_request(conn: Redis, request_id: str, doc: str, then: Stage | None = None) -> None:
    """Record a new request in `planning` (with whatever `then` stages in the same commit)."""
    pipe = conn.pipeline(transaction=True)
    pipe.hset(keys.request(request_id), mapping={"doc": doc, "status": R.PLANNING.value})
    pipe.sadd(keys.REQUESTS_PENDING, request_id)
    pipe.set(keys.HOME_DIRTY, "1")  # the App Home shows requests and alerts: redrawn after every change
    if then:
        then(pipe)
    pipe.execute()
    replicated(conn)


def move_request(
    conn: Redis,
    request_id: str,
    to: RequestStatus,
    expect: Iterable[RequestStatus] | None = None,
    fields: dict[str, str] | None = None,
    then: Stage | None = None,
    check: Callable[[Pipeline], str | None] | None = None,
) -> RequestStatus | None:
    """Move a request to `to` if its status is one of `expect` (default: any the table allows) and `check`
    (read under WATCH) finds nothing wrong. Returns the status it left, or None when refused."""
    key = keys.request(request_id)
    sources = {s for s, targets in REQUEST_MOVES.items() if to in targets}
    if expect is not None:
        sources &= set(expect)
    left: list[RequestStatus | None] = [None]

    def attempt(pipe: Pipeline) -> None:
        left[0] = None
        raw = _text(pipe.hget(key, "status"))
        current = RequestStatus(raw) if raw is not None and raw in RequestStatus._value2member_map_ else None
        if current not in sources or (check is not None and check(pipe) is not None):
            return
        pipe.multi()
        pipe.hset(key, mapping=_mapping({"status": to.value, **(fields or {})}))
        for name in set(REQUEST_INDEX.values()):
            pipe.srem(name, request_id)
        if to in REQUEST_INDEX:
            pipe.sadd(REQUEST_INDEX[to], request_id)
        pipe.set(keys.HOME_DIRTY, "1")
        if then:
            then(pipe)
        left[0] = current

    conn.transaction(attempt, key)
    if left[0] is not None:
        replicated(conn)
    if left[0] is None:
        current = _text(conn.hget(key, "status"))
        log.info("transition refused", extra={"request": request_id, "status": current, "to": to.value})
    return left[0]


def create_alert(pipe: Pipeline, alert_id: str, change_key: str, doc: str, indexed: bool = True) -> None:
    """Stage a new open alert (indexed by its change key unless it is a one-off, like a failed attempt)."""
    pipe.hset(keys.alert(alert_id), mapping={"doc": doc, "status": A.OPEN.value})
    pipe.set(keys.HOME_DIRTY, "1")
    if indexed:
        pipe.hset(keys.ALERTS_OPEN, change_key, alert_id)


def move_alert(
    conn: Redis,
    alert_id: str,
    to: AlertStatus,
    fields: dict[str, str] | None = None,
    then: Stage | None = None,
) -> AlertStatus | None:
    """Move an alert to `to` if the table allows it from its current status; returns the status it left."""
    key = keys.alert(alert_id)
    left: list[AlertStatus | None] = [None]

    def attempt(pipe: Pipeline) -> None:
        left[0] = None
        raw = _text(pipe.hget(key, "status"))
        current = AlertStatus(raw) if raw is not None and raw in AlertStatus._value2member_map_ else None
        if current is None or not allowed(ALERT_MOVES, current, to):
            return
        change_key = None
        if to is A.RECOVERED:
            change_key = json.loads(_text(pipe.hget(key, "doc")) or "{}").get("key")
        pipe.multi()
        pipe.hset(key, mapping=_mapping({"status": to.value, **(fields or {})}))
        if change_key:
            pipe.hdel(keys.ALERTS_OPEN, change_key)
        pipe.set(keys.HOME_DIRTY, "1")
        if then:
            then(pipe)
        left[0] = current

    conn.transaction(attempt, key)
    if left[0] is not None:
        replicated(conn)
    if left[0] is None:
        log.info(
            "transition refused", extra={"alert": alert_id, "status": _text(conn.hget(key, "status")), "to": to.value}
        )
    return left[0]
