"""The pieces every step of a request shares: its settings and Redis, the account it acts in, the messages
staged inside the transition they describe, and the commit that moves it.
"""


from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.aws.accounts import account_of
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings
from workers.remediation import approvals, waivers
from workers.remediation.approvals import Request, RequestStatus
from workers.resources import actions
from workers.resources.findings import GLOBAL, Finding, Status
from workers.resources.recheck import recheck
from workers.slack import outbox
from workers.slack.messages.answers import ephemeral
from workers.slack.messages.prompt import prompt
from workers.state import executed_actions, outgoing
from workers.state.connection import connection

log = logging.getLogger("trail_audit.remediate")






S = RequestStatus


def env() -> tuple[Settings, Redis]:
    """The settings, read once, and the Redis connection of a job."""
    settings = Settings()
    return settings, connection(settings)


def tell(pipe: Pipeline, req: Request, name: str, text: str) -> str | None:
    """Stage an ephemeral line to the requester, where they asked."""
    if not req.channel:
        return None
    return outgoing.stage(
        pipe, f"req-{req.id}-tell-{name}", req.channel, ephemeral(text), user=req.requester, kind="ephemeral"
    )


def in_thread(pipe: Pipeline, req: Request, name: str, message: dict[str, Any]) -> str | None:
    """Stage a reply in the prompt's thread."""
    if not req.prompt_channel:
        return None
    return outgoing.stage(pipe, f"req-{req.id}-{name}", req.prompt_channel, message, thread=req.prompt_id())


def prompt_state(pipe: Pipeline, req: Request, state: str) -> str | None:
    """Stage the prompt's new form (its buttons give way to `state`)."""
    if not req.prompt_channel:
        return None
    return outgoing.stage(pipe, req.prompt_id(), req.prompt_channel, prompt(asdict(req), state=state))


def commit(conn: Redis, req: Request, to: RequestStatus, expect: set[RequestStatus], stage: Any) -> bool:
    """Move the request and commit the messages `stage(pipe)` returns with it; then queue their delivery."""
    staged: list[str] = []

    def then(pipe: Pipeline) -> None:
        staged.extend(m for m in stage(pipe) if m)

    if not approvals.move(conn, req, to, expect, then):
        return False
    outbox.kick(conn, staged)
    return True


def record_executed(conn: Redis, req: Request, started: float, action: str | None = None) -> None:
    """Remember what ran where and when, so the monitor labels the changes it sees as approved."""
    made = approvals.decision(conn, req.id)
    basis = (req.plan or {}).get("basis") or []
    executed_actions.record(
        conn,
        {
            "request": req.id,
            "action": action or req.action,
            "account": req.account,
            "region": req.region,
            "resource": req.resource,
            "requester": req.requester,
            "approver": made.user if made else None,
            "started": started,
            "ended": time.time(),
            # a Restore's basis: the (kind, resource, field) it put back, the only changes it explains
            "restored": [[b.get("kind"), b.get("resource"), b.get("field")] for b in basis],
        },
    )


def state_line(req: Request) -> str:
    """The one line the prompt shows for a request's state (a backout's or waiver's with its deadline)."""
    if req.status is S.ACTIVE and req.action == waivers.ACTION and req.deadline:
        return f":shield: waiver in force until {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(req.deadline))}"
    if req.status is S.ACTIVE and req.deadline:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
        return f":double_vertical_bar: backout active until {when}, then restored exactly"
    if req.status is S.UNKNOWN and req.deadline:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
        return f":x: failed, state unknown; restored at {when} anyway (restoring is the safe direction)"
    mark = ":white_check_mark:" if req.status is S.DONE else ":x:"
    return f"{mark} {req.status.value}"


def recheck_finding(settings: Settings, req: Request) -> dict[str, Any] | None:
    """The request's finding judged afresh in its own account (ERROR, never PASS, when it cannot be reached)."""
    check = req.check or actions.affected_check(req.action)
    if check is None:
        return None
    region = GLOBAL if check in actions.ACCOUNT_CHECKS else req.region
    try:
        acct = account_of(settings, req.role_arn)
    except PlanError as exc:
        return Finding(check, Status.ERROR, req.account, region, req.resource, f"Could not verify: {exc}").to_dict()
    finding = recheck(acct, settings, check, region, req.resource)
    return finding.to_dict() if finding else None
