"""Approval requests: server-side state of every fix and backout, and the rules of deciding them.

A button carries only a request's opaque id. The first valid decision wins atomically (`HSETNX` on the
request's `decision` field); later clicks are told who decided and when. The requester never approves their
own request; requests expire; only configured approvers (user ids, or members of a user group) decide.
"""

from __future__ import annotations

import enum
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from rq import Callback

from workers import auditlog
from workers.queues import queue

PENDING_SET = "ta:requests:pending"
ACTIVE_SET = "ta:requests:active"  # backouts in force
APPROVED_SET = "ta:requests:approved"  # approved, not yet executing


class RequestStatus(enum.StrEnum):
    """Where a request is in its life."""

    PLANNING = "planning"
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    EXECUTING = "executing"
    ACTIVE = "backout active"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "failed, state unknown"
    RESTORED = "restored"


@dataclass
class Request:
    """A requested fix or backout."""

    id: str
    action: str
    requester: str
    reason: str
    account: str
    region: str
    resource: str
    check: str | None = None
    channel: str | None = None  # where it was requested (the requester is told there)
    created: float = field(default_factory=time.time)
    expires: float = 0.0
    minutes: float | None = None  # a backout's duration
    deadline: float | None = None  # when an executed backout is restored
    role_arn: str | None = None  # the role to act through (None: the current credentials)
    plan: dict[str, Any] | None = None
    permissions: list[str] = field(default_factory=list)
    prompt: dict[str, Any] | None = None  # where the approval prompt was posted (channel, ts)
    status: RequestStatus = RequestStatus.PLANNING

    def key(self) -> str:
        """The Redis hash of this request."""
        return key(self.id)


@dataclass(frozen=True)
class Decision:
    """Who decided a request, how and when."""

    approved: bool
    user: str
    at: float

    def sentence(self) -> str:
        """`approved by <@U1> at 14:03 UTC`."""
        verb = "approved" if self.approved else "denied"
        return f"{verb} by <@{self.user}> at {time.strftime('%H:%M:%S UTC', time.gmtime(self.at))}"


class Refused(Exception):
    """A click or command that may not proceed, with the sentence to show its author."""


def key(request_id: str) -> str:
    """The Redis hash holding a request."""
    return f"ta:req:{request_id}"


def new_id() -> str:
    """An opaque, unguessable request id."""
    return secrets.token_hex(8)


def save(conn: Redis, req: Request) -> None:
    """Write a request (its fields; the decision field is never touched here)."""
    conn.hset(req.key(), mapping={"doc": json.dumps(asdict(req)), "status": req.status.value})
    if req.status in (RequestStatus.PLANNING, RequestStatus.PENDING):
        conn.sadd(PENDING_SET, req.id)
    else:
        conn.srem(PENDING_SET, req.id)
    for status, name in ((RequestStatus.ACTIVE, ACTIVE_SET), (RequestStatus.APPROVED, APPROVED_SET)):
        if req.status is status:
            conn.sadd(name, req.id)
        else:
            conn.srem(name, req.id)


def load(conn: Redis, request_id: str) -> Request:
    """A request by id; an unknown or malformed id is refused."""
    if not request_id.isalnum() or len(request_id) > 32:
        raise Refused("That request id is not valid.")
    raw = conn.hget(key(request_id), "doc")
    if raw is None:
        raise Refused(f"There is no request `{request_id}` (unknown, or not from this workspace).")
    doc = json.loads(raw)
    doc["status"] = RequestStatus(conn.hget(key(request_id), "status").decode())  # type: ignore[union-attr]
    return Request(**doc)


def set_status(conn: Redis, req: Request, status: RequestStatus) -> None:
    """Move a request on, and keep the pending set in step."""
    req.status = status
    save(conn, req)


def decision(conn: Redis, request_id: str) -> Decision | None:
    """The decision made on a request, if any."""
    raw = conn.hget(key(request_id), "decision")
    return Decision(**json.loads(raw)) if raw else None


def is_approver(user: str, approvers: list[str], group_members: Callable[[str], set[str]]) -> bool:
    """A configured user id, or a member of a configured user group (ids starting with S)."""
    if user in approvers:
        return True
    return any(user in group_members(group) for group in approvers if group.startswith("S"))


def decide(
    conn: Redis,
    request_id: str,
    user: str,
    approve: bool,
    approvers: list[str],
    group_members: Callable[[str], set[str]] = lambda _g: set(),
    now: float | None = None,
) -> Request:
    """Record `user`'s decision; the first valid one wins. Raises `Refused` with the reason otherwise."""
    now = time.time() if now is None else now
    req = load(conn, request_id)
    earlier = decision(conn, request_id)
    if earlier is not None:
        raise Refused(f"This request was already {earlier.sentence()}.")
    if req.status is RequestStatus.PLANNING:
        raise Refused("This request is still being planned; its prompt will follow.")
    if req.status is not RequestStatus.PENDING:
        raise Refused(f"This request is {req.status.value}; it can no longer be decided.")
    if now > req.expires:
        set_status(conn, req, RequestStatus.EXPIRED)
        auditlog.write(conn, "expired", req.id, user)
        raise Refused("This request has expired; ask for it again if it is still needed.")
    if not is_approver(user, approvers, group_members):
        raise Refused("Only the configured approvers (TRAIL_AUDIT_APPROVERS) can decide requests.")
    if approve and user == req.requester:
        raise Refused("You requested this yourself: another approver must approve it.")
    made = Decision(approve, user, now)
    if not conn.hsetnx(key(request_id), "decision", json.dumps(asdict(made))):
        raise Refused(f"This request was already {decision(conn, request_id).sentence()}.")  # type: ignore[union-attr]
    set_status(conn, req, RequestStatus.APPROVED if approve else RequestStatus.DENIED)
    auditlog.write(conn, "approved" if approve else "denied", req.id, user, action=req.action)
    return req


def pending(conn: Redis) -> list[Request]:
    """Requests waiting for a plan or a decision."""
    return _members(conn, PENDING_SET)


def active(conn: Redis) -> list[Request]:
    """Backouts in force (to be restored at their deadline)."""
    return _members(conn, ACTIVE_SET)


def approved(conn: Redis) -> list[Request]:
    """Requests approved and not yet executing."""
    return _members(conn, APPROVED_SET)


def claim(conn: Redis, request_id: str, by: str) -> bool:
    """Take the one execution of a request (a second job for the same request gets False)."""
    return bool(conn.hsetnx(key(request_id), "claimed", by))


def _members(conn: Redis, name: str) -> list[Request]:
    out = []
    for raw in conn.smembers(name):
        try:
            out.append(load(conn, raw.decode() if isinstance(raw, bytes) else str(raw)))
        except Refused:
            conn.srem(name, raw)
    return sorted(out, key=lambda r: r.created)


def open_request(conn: Redis, req: Request) -> None:
    """Record a new request, log it, and queue its planning (by dotted path: the bot imports no AWS code)."""
    req.status = RequestStatus.PLANNING
    save(conn, req)
    auditlog.write(conn, "requested", req.id, req.requester, action=req.action, resource=req.resource,
                   reason=req.reason)  # fmt: skip
    queue(conn).enqueue(
        "workers.remediate.prepare", req.id, job_timeout=120, on_failure=Callback("workers.remediate.prepare_failed")
    )
