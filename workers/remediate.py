"""RQ jobs of the approval flow: plan and prompt, execute and re-check, re-enable at a backout's deadline.

The web process creates a request (status `planning`) and enqueues `prepare`; the plan is computed here,
where AWS is reached, and the prompt posted in the alert channel. An approval enqueues `execute`. Every step
is written to the audit log and told in the prompt's thread. A job that dies (its worker killed) ends as
"failed, state unknown", with a fresh re-check of the finding posted, never as a request left in progress.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from redis import Redis
from rq import Callback, get_current_job
from rq.job import Job
from slack_sdk.errors import SlackApiError

from bot import blocks
from workers import actions, approvals, auditlog, logs, remediations, slack
from workers.accounts import Account, AccountError, assumed_account, default_account
from workers.approvals import Request, RequestStatus
from workers.audit import recheck
from workers.awserrors import ApiError
from workers.failures import reason as failure_reason
from workers.findings import GLOBAL
from workers.inventory import call
from workers.queues import connection, queue
from workers.remediations import Plan, PlanError
from workers.settings import Settings

log = logging.getLogger("trail_audit.remediate")
DUE = "ta:reenable:due"  # sorted set: backout request id -> deadline (epoch seconds)
REMIND = "ta:reenable:remind"  # sorted set: backout request id -> when to remind
EXECUTE_TIMEOUT = 120


RETRY_REENABLE = 60.0  # seconds before a re-enable that failed is tried again
STUCK_AFTER = 60.0  # seconds an approved request may wait for its execution before it is queued again


def _env() -> tuple[Settings, Redis]:
    """The settings, read once, and the Redis connection of a job."""
    settings = Settings()
    return settings, connection(settings)


def account_of(settings: Settings, role_arn: str | None) -> Account:
    """The account a request acts in; raises PlanError when it cannot be reached."""
    acct = assumed_account(settings, role_arn) if role_arn else default_account(settings)
    if isinstance(acct, AccountError):
        raise PlanError(acct.error.sentence())
    return acct


def role_for(settings: Settings, account_id: str | None) -> str | None:
    """The configured role of an account id (None: the current credentials' account)."""
    for arn in settings.role_arns:
        if account_id and arn.split(":")[4:5] == [account_id]:
            return arn
    return settings.role_arns[0] if settings.role_arns and not account_id else None


def _tell_requester(settings: Settings, req: Request, text: str) -> None:
    if not req.channel:
        return
    try:
        slack.web_client(settings).chat_postEphemeral(channel=req.channel, user=req.requester, text=text)
    except SlackApiError as exc:
        log.warning("could not tell the requester", extra={"slack_error": exc.response.get("error")})


def _thread(settings: Settings, req: Request, message: dict[str, Any]) -> None:
    if req.prompt:
        slack.post(slack.web_client(settings), req.prompt["channel"], message, thread_ts=req.prompt["ts"])


def _update_prompt(settings: Settings, req: Request, state: str) -> None:
    if req.prompt:
        posted = slack.Posted(req.prompt["channel"], req.prompt["ts"])
        slack.update(slack.web_client(settings), posted, blocks.prompt(asdict(req), state=state))


def resolve(acct: Account, settings: Settings, req: Request) -> tuple[str, str]:
    """The request's (region, resource): a trail name becomes its ARN, and its region the trail's home."""
    if not remediations.on_trail(req.action):
        return req.region, req.resource
    if req.resource.startswith("arn:"):
        return remediations.trail_region(req.resource), req.resource
    trails = call(acct, "cloudtrail", settings.home_region, "DescribeTrails", includeShadowTrails=True)
    if isinstance(trails, ApiError):
        raise PlanError(trails.sentence())
    found = [t for t in trails.get("trailList", []) if t.get("Name") == req.resource]
    if found:
        return found[0]["HomeRegion"], found[0]["TrailARN"]
    raise PlanError(f"No trail named `{req.resource[:80]}` in account {acct.id}.")


def prepare(request_id: str) -> str:
    """Plan a request from the current state and post its approval prompt in the alert channel."""
    settings, conn = _env()
    logs.setup()
    req = approvals.load(conn, request_id)
    if req.status is not RequestStatus.PLANNING:
        return req.status.value
    try:
        if not settings.alert_channel:
            raise PlanError("TRAIL_AUDIT_ALERT_CHANNEL is not set, so there is nowhere to ask for approval.")
        acct = account_of(settings, req.role_arn)
        req.account = acct.id
        if req.plan is None:  # a Restore from an alert comes with its plan (the last known good state)
            req.region, req.resource = resolve(acct, settings, req)
            plan = remediations.plan(req.action, acct, req.region, req.resource, settings)
        else:
            plan = Plan.from_dict(req.plan)
    except PlanError as exc:
        approvals.set_status(conn, req, RequestStatus.FAILED)
        auditlog.write(conn, "plan_failed", req.id, req.requester, action=req.action, error=str(exc))
        _tell_requester(settings, req, f":x: Your request `{req.id}` ({req.action}) cannot be planned: {exc}")
        return "failed"
    req.plan = plan.to_dict()
    req.permissions = req.permissions or list(remediations.get(req.action).permissions)
    req.expires = time.time() + settings.approval_minutes * 60
    req.status = RequestStatus.PENDING
    approvals.save(conn, req)
    posted = slack.post(slack.web_client(settings), settings.alert_channel, blocks.prompt(asdict(req)))
    req.prompt = {"channel": posted.channel, "ts": posted.ts}
    approvals.save(conn, req)
    auditlog.write(conn, "prompted", req.id, req.requester, action=req.action, calls=len(plan.calls))
    _tell_requester(settings, req, f"Your request `{req.id}` ({req.action}) awaits approval in <#{posted.channel}>.")
    return "pending"


def enqueue_execute(conn: Redis, request_id: str) -> Job:
    """Queue an approved request's execution (with the failure callback that reports "state unknown")."""
    return queue(conn).enqueue(
        "workers.remediate.execute",
        request_id,
        job_timeout=EXECUTE_TIMEOUT,
        on_failure=Callback("workers.remediate.execution_failed"),
    )


def execute(request_id: str) -> str:
    """Make the approved calls, log each, schedule a backout's re-enable, post the result and the re-check."""
    settings, conn = _env()
    logs.setup()
    req = approvals.load(conn, request_id)
    if req.status is not RequestStatus.APPROVED:
        return req.status.value  # a replayed job does nothing twice
    me = get_current_job()
    if not approvals.claim(conn, req.id, me.id if me else "inline"):
        return "already executing"
    approvals.set_status(conn, req, RequestStatus.EXECUTING)
    auditlog.write(conn, "executing", req.id, None, action=req.action)
    _update_prompt(settings, req, ":gear: executing…")
    acct = account_of(settings, req.role_arn)
    plan = Plan.from_dict(req.plan or {"calls": []})
    started = time.time()
    results = remediations.execute(acct, plan)
    _record(conn, req, started)
    for r in results:
        auditlog.write(conn, "api_call", req.id, None, call=r["call"], ok=r["ok"], error=r.get("error"))
    ok = all(r["ok"] for r in results)
    backout = remediations.get(req.action).backout
    if ok and backout:
        req.deadline = time.time() + (req.minutes or 0) * 60
        lead = min(300.0, (req.minutes or 0) * 60 / 2)
        conn.zadd(DUE, {req.id: req.deadline})
        conn.zadd(REMIND, {req.id: req.deadline - lead})
        status = RequestStatus.ACTIVE
    else:
        status = RequestStatus.DONE if ok else RequestStatus.FAILED
    approvals.set_status(conn, req, status)
    auditlog.write(conn, "executed", req.id, None, action=req.action, ok=ok)
    finding = _recheck(settings, req)
    _thread(settings, req, blocks.outcome(asdict(req), results, finding))
    state = _state_line(req, finding)
    _update_prompt(settings, req, state)
    _tell_requester(settings, req, f"Your request `{req.id}` ({req.action}): {state}")
    return status.value


def _record(conn: Redis, req: Request, started: float, action: str | None = None) -> None:
    """Remember what ran where and when, so the monitor labels the changes it sees as approved."""
    made = approvals.decision(conn, req.id)
    actions.record(
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
        },
    )


def _state_line(req: Request, finding: dict[str, Any] | None) -> str:
    check = f" · re-check {finding['status']}" if finding else ""
    if req.status is RequestStatus.ACTIVE and req.deadline:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
        return f":double_vertical_bar: backout active until {when}, then restored exactly{check}"
    mark = ":white_check_mark:" if req.status is RequestStatus.DONE else ":x:"
    return f"{mark} {req.status.value}{check}"


def _recheck(settings: Settings, req: Request) -> dict[str, Any] | None:
    check = req.check or remediations.affected_check(req.action)
    if check is None:
        return None
    region = GLOBAL if check in remediations.ACCOUNT_CHECKS else req.region
    finding = recheck(settings, req.account, check, region, req.resource)
    return finding.to_dict() if finding else None


def execution_failed(job: Job, connection_: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback of `execute`: "failed, state unknown", logged, and a fresh re-check queued."""
    settings, conn = _env()
    req = approvals.load(conn, job.args[0])
    why = failure_reason(exc_type, exc, job.timeout)
    approvals.set_status(conn, req, RequestStatus.UNKNOWN)
    auditlog.write(conn, "execution_failed", req.id, None, action=req.action, reason=why)
    _thread(
        settings,
        req,
        blocks.outcome(asdict(req), [], None)
        | {"text": f":x: {req.action} `{req.id}` failed, state unknown: {why}. A fresh re-check follows."},
    )
    _update_prompt(settings, req, f":x: failed, state unknown ({why}); re-checking")
    queue(conn).enqueue("workers.remediate.recheck_request", req.id, job_timeout=EXECUTE_TIMEOUT)


def recheck_request(request_id: str) -> dict[str, Any] | None:
    """Audit the request's finding afresh and post it in the prompt's thread."""
    settings, conn = _env()
    req = approvals.load(conn, request_id)
    finding = _recheck(settings, req)
    text = (
        f"*Re-check* of `{req.id}`: {finding['status']}: {finding['detail']}"
        if finding
        else f"*Re-check* of `{req.id}`: the finding was not found (the resource may be gone)."
    )
    _thread(settings, req, {"text": text, "blocks": [blocks.section(text)]})
    auditlog.write(conn, "rechecked", req.id, None, status=finding["status"] if finding else None)
    return finding


def reenable(request_id: str, actor: str) -> str:
    """Restore a backout's snapshot exactly (at its deadline, or early by anyone: the safe direction)."""
    settings, conn = _env()
    logs.setup()
    req = approvals.load(conn, request_id)
    if req.status is not RequestStatus.ACTIVE:
        return req.status.value
    if not conn.set(approvals.key(req.id) + ":restoring", actor, nx=True, ex=EXECUTE_TIMEOUT):
        return "already restoring"
    try:
        snapshot = (req.plan or {}).get("snapshot")
        if snapshot is None:
            raise PlanError(f"request {req.id} has no snapshot to restore")
        started = time.time()
        results = remediations.execute(account_of(settings, req.role_arn), remediations.reenable(snapshot))
    except PlanError as exc:
        results = [{"call": "(none made)", "ok": False, "error": str(exc)}]
        started = time.time()
    finally:
        conn.delete(approvals.key(req.id) + ":restoring")
    _record(conn, req, started, "reenable")
    for r in results:
        auditlog.write(conn, "api_call", req.id, actor, call=r["call"], ok=r["ok"], error=r.get("error"))
    ok = all(r["ok"] for r in results)
    conn.zrem(REMIND, req.id)
    who = "at its deadline" if actor == "deadline" else f"early by <@{actor}>"
    auditlog.write(conn, "reenabled" if ok else "reenable_failed", req.id, actor, ok=ok, when=who)
    if ok:
        conn.zrem(DUE, req.id)
        approvals.set_status(conn, req, RequestStatus.RESTORED)
    else:  # the backout stays active and the restore is tried again: monitoring must come back
        conn.zadd(DUE, {req.id: time.time() + RETRY_REENABLE})
    finding = _recheck(settings, req)
    _thread(settings, req, blocks.outcome(asdict(req), results, finding))
    state = (
        f":white_check_mark: restored {who}" if ok else f":x: restore failed; trying again in {RETRY_REENABLE:.0f} s"
    )
    _update_prompt(settings, req, state)
    return req.status.value


def prepare_failed(job: Job, connection_: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback of `prepare`: the request fails (not left "planning") and the requester is told."""
    settings, conn = _env()
    req = approvals.load(conn, job.args[0])
    if req.status not in (RequestStatus.PLANNING, RequestStatus.PENDING):
        return
    why = failure_reason(exc_type, exc, job.timeout)
    approvals.set_status(conn, req, RequestStatus.FAILED)
    auditlog.write(conn, "plan_failed", req.id, None, action=req.action, error=why)
    _tell_requester(settings, req, f":x: Your request `{req.id}` ({req.action}) could not be prepared: {why}")


def sweep_due() -> dict[str, int]:
    """Cron job: re-enable backouts whose deadline passed, remind before it, expire undecided requests."""
    settings, conn = _env()
    now = time.time()
    fired = 0
    for raw in conn.zrangebyscore(DUE, 0, now):
        rid = raw.decode() if isinstance(raw, bytes) else str(raw)
        if conn.zrem(DUE, rid):  # claimed: exactly one sweep enqueues it
            queue(conn).enqueue("workers.remediate.reenable", rid, "deadline", job_timeout=EXECUTE_TIMEOUT)
            fired += 1
    reminded = 0
    for raw in conn.zrangebyscore(REMIND, 0, now):
        rid = raw.decode() if isinstance(raw, bytes) else str(raw)
        if conn.zrem(REMIND, rid):
            req = approvals.load(conn, rid)
            if req.status is RequestStatus.ACTIVE and req.deadline:
                when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
                text = (
                    f":alarm_clock: <@{req.requester}> backout `{rid}` ends at {when}; "
                    f"`/trail-audit reenable {rid}` ends it now."
                )
                _thread(settings, req, {"text": text, "blocks": [blocks.section(text)]})
                reminded += 1
    for req in approvals.approved(conn):  # approved, but its execution was never queued (or was lost)
        made = approvals.decision(conn, req.id)
        stuck = made is not None and now - made.at > STUCK_AFTER and not conn.hexists(approvals.key(req.id), "claimed")
        if stuck and conn.set(approvals.key(req.id) + ":requeued", "1", nx=True, ex=int(STUCK_AFTER)):
            enqueue_execute(conn, req.id)
            auditlog.write(conn, "requeued", req.id, None, action=req.action)
    expired = 0
    for req in approvals.pending(conn):
        if req.status is RequestStatus.PENDING and now > req.expires:
            approvals.set_status(conn, req, RequestStatus.EXPIRED)
            auditlog.write(conn, "expired", req.id, None, action=req.action)
            _update_prompt(settings, req, ":hourglass: expired without a decision")
            expired += 1
    me = get_current_job()
    if fired or reminded or expired:
        log.info(
            "sweep", extra={"fired": fired, "reminded": reminded, "expired": expired, "job": me.id if me else None}
        )
    return {"fired": fired, "reminded": reminded, "expired": expired}
