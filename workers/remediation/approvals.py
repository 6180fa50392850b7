"""Approval requests: server-side state of every fix and backout, and the rules of deciding them.

A button carries only a request's opaque id. Every status change goes through `workers.state.machine` (one
compare-and-set each, committed with the messages it causes); the decision is taken in the same atomic step
as `pending -> approved|denied`, only while the request has not expired, so the first valid decision wins
and an expiry and an approval can never both happen. The requester never approves their own request; only
configured approvers (user ids, or members of a user group) decide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Callback
from rq.job import Job

from workers.core.mrkdwn import code, mention
from workers.core.people import is_named
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import EXECUTE_TIMEOUT, URGENT, queue
from workers.slack import outbox
from workers.slack.messages.answers import ephemeral
from workers.slack.messages.prompt import prompt
from workers.state import auditlog, keys, machine, outgoing, request_records
from workers.state.machine import Refused, RequestStatus

__all__ = ["Decision", "Refused", "Request", "RequestStatus"]


def prompt_message_id(request_id: str) -> str:
    """The outbox id of a request's approval prompt."""
    return f"req-{request_id}-prompt"


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
    prompt: dict[str, Any] | None = None  # (before the outbox) where the prompt was posted
    prompt_channel: str | None = None  # where its approval prompt goes (the alert channel at planning)
    executing_since: float | None = None  # when its execution claimed it
    status: RequestStatus = RequestStatus.PLANNING

    def key(self) -> str:
        """The Redis hash of this request."""
        return keys.request(self.id)

    def doc(self) -> str:
        """The request as stored (its status lives beside it, in the hash's `status` field)."""
        return json.dumps({k: v for k, v in asdict(self).items() if k != "status"})

    def prompt_id(self) -> str:
        """The outbox id of its approval prompt (the thread where every step is told)."""
        return prompt_message_id(self.id)


@dataclass(frozen=True)
class Decision:
    """Who decided a request, how and when."""

    approved: bool
    user: str
    at: float

    def sentence(self) -> str:
        """`approved by <@U1> at 14:03 UTC`."""
        verb = "approved" if self.approved else "denied"
        return f"{verb} by {mention(self.user)} at {time.strftime('%H:%M:%S UTC', time.gmtime(self.at))}"


def load(conn: Redis, request_id: str) -> Request:
    """A request by id; an unknown or malformed id is refused."""
    if not request_id.isalnum() or len(request_id) > 32:
        raise Refused("That request id is not valid.")
    found = request_records.read(conn, request_id)
    if found is None:
        raise Refused(f"There is no request {code(request_id)} (unknown, or not from this workspace).")
    doc, status = found
    return Request(**{**doc, "status": RequestStatus(status)})


def move(
    conn: Redis,
    req: Request,
    to: RequestStatus,
    expect: set[RequestStatus] | None = None,
    then: machine.Stage | None = None,
) -> bool:
    """Move a request on (committing its doc and what `then` stages with it); False when refused."""
    left = machine.move_request(conn, req.id, to, expect, fields={"doc": req.doc()}, then=then)
    if left is None:
        return False
    req.status = to
    return True


def decision(conn: Redis, request_id: str) -> Decision | None:
    """The decision made on a request, if any."""
    made = request_records.decision(conn, request_id)
    return Decision(**made) if made else None


def decide(
    conn: Redis,
    request_id: str,
    user: str,
    approve: bool,
    approvers: list[str],
    group_members: Callable[[str], set[str]] = lambda _g: set(),
    now: float | None = None,
) -> Request:
    """Record `user`'s decision; the first valid one wins. Raises `Refused` with the reason otherwise.

    The decision, the status, the audit log entry and the prompt's new state are one commit; it is refused
    when the request is no longer pending or has expired by then (an expiry and an approval never both win).
    """
    now = time.time() if now is None else now
    req = load(conn, request_id)
    _check_decidable(conn, req, user, approve, approvers, group_members, now)
    made = Decision(approve, user, now)
    to = RequestStatus.APPROVED if approve else RequestStatus.DENIED

    def still_open(pipe: Pipeline) -> str | None:
        if request_records.is_decided(pipe, request_id):
            return "decided"
        return "expired" if time.time() > req.expires else None

    req.status = to
    state = f":white_check_mark: {made.sentence()}: executing…" if approve else f":no_entry_sign: {made.sentence()}"
    redrawn = prompt(asdict(req), state)
    staged: list[str] = []

    def then(pipe: Pipeline) -> None:
        staged.clear()
        request_records.stage_decision(pipe, request_id, asdict(made))
        auditlog.stage(pipe, "approved" if approve else "denied", req.id, user, action=req.action)
        if req.prompt_channel:
            staged.append(outgoing.stage(pipe, req.prompt_id(), req.prompt_channel, redrawn))
        if not approve and req.channel:
            told = ephemeral(f"Your request `{req.id}` ({req.action}) was {made.sentence()}.")
            staged.append(outgoing.stage(pipe, f"req-{req.id}-decided", req.channel, told, user=req.requester,
                                         kind="ephemeral"))  # fmt: skip

    left = machine.move_request(conn, request_id, to, {RequestStatus.PENDING}, {"doc": req.doc()}, then, still_open)
    if left is None:
        earlier = decision(conn, request_id)
        if earlier is not None:
            raise Refused(f"This request was already {earlier.sentence()}.")
        raise Refused("This request has expired; ask for it again if it is still needed.")
    outbox.kick(conn, staged)
    return req


def _check_decidable(
    conn: Redis, req: Request, user: str, approve: bool, approvers: list[str],
    group_members: Callable[[str], set[str]], now: float,
) -> None:  # fmt: skip
    """Refuse a decision that may not be made: decided already, not pending, expired (which it then is), by
    someone who is not an approver, or an approval by its own requester."""
    earlier = decision(conn, req.id)
    if earlier is not None:
        raise Refused(f"This request was already {earlier.sentence()}.")
    if req.status is RequestStatus.PLANNING:
        raise Refused("This request is still being planned; its prompt will follow.")
    if req.status is not RequestStatus.PENDING:
        raise Refused(f"This request is {req.status.value}; it can no longer be decided.")
    if now > req.expires:
        expire(conn, req, user)
        raise Refused("This request has expired; ask for it again if it is still needed.")
    if not is_named(user, approvers, group_members):
        raise Refused("Only the configured approvers (TRAIL_AUDIT_APPROVERS) can decide requests.")
    if approve and user == req.requester:
        raise Refused("You requested this yourself: another approver must approve it.")


def expire(conn: Redis, req: Request, actor: str | None = None) -> bool:
    """`pending -> expired` (once, whoever notices first), with the prompt updated."""
    expired = Request(**{**asdict(req), "status": RequestStatus.EXPIRED})

    def then(pipe: Pipeline) -> None:
        auditlog.stage(pipe, "expired", req.id, actor, action=req.action)
        outgoing.stage(
            pipe,
            req.prompt_id(),
            req.prompt_channel,
            prompt(asdict(expired), ":hourglass: expired without a decision"),
        )

    if not move(conn, req, RequestStatus.EXPIRED, {RequestStatus.PENDING}, then):
        return False
    outbox.kick(conn, [req.prompt_id()])
    return True


def pending(conn: Redis) -> list[Request]:
    """Requests waiting for a plan or a decision."""
    return _members(conn, keys.REQUESTS_PENDING)


def active(conn: Redis) -> list[Request]:
    """Backouts in force, or whose execution ended unknown (restored at their deadline either way)."""
    return [r for r in _members(conn, keys.REQUESTS_ACTIVE) if r.action.startswith("backout.")]


def executing(conn: Redis) -> list[Request]:
    """Requests whose execution is under way (or was lost: the sweep looks)."""
    return _members(conn, keys.REQUESTS_EXECUTING)


def approved(conn: Redis) -> list[Request]:
    """Requests approved and not yet executing."""
    return _members(conn, keys.REQUESTS_APPROVED)


def _members(conn: Redis, name: str) -> list[Request]:
    out = []
    for request_id in request_records.indexed(conn, name):
        try:
            out.append(load(conn, request_id))
        except Refused:
            request_records.unindex(conn, name, request_id)
    return sorted(out, key=lambda r: r.created)


def open_request(conn: Redis, req: Request) -> None:
    """Record a new request, log it, and queue its planning (by dotted path: the bot imports no AWS code)."""
    req.status = RequestStatus.PLANNING

    def then(pipe: Pipeline) -> None:
        auditlog.stage(
            pipe, "requested", req.id, req.requester, action=req.action, resource=req.resource, reason=req.reason
        )

    machine.create_request(conn, req.id, req.doc(), then)
    queue(conn, URGENT).enqueue(  # a person waits for the prompt: never behind a queue of audits
        paths.PREPARE,
        req.id,
        job_timeout=120,
        on_failure=Callback(paths.PREPARE_FAILED),
    )




def enqueue_execute(conn: Redis, request_id: str) -> Job:
    """Queue an approved request's execution (with the failure callback that reports "state unknown")."""
    return queue(conn, URGENT).enqueue(
        paths.EXECUTE,
        request_id,
        job_timeout=EXECUTE_TIMEOUT,
        on_failure=Callback(paths.EXECUTION_FAILED),
    )


def role_for(settings: Settings, account_id: str | None) -> str | None:
    """The role of an account id: configured, or the organization's role name (None: the current
    credentials' account)."""
    if not account_id:
        return settings.role_arns[0] if settings.role_arns else None
    for arn in settings.role_arns:
        if arn.split(":")[4:5] == [account_id]:
            return arn
    return f"arn:aws:iam::{account_id}:role/{settings.org_role_name}" if settings.org_role_name else None
