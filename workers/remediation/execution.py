"""Executing an approved request: it plans again from the current state and changes nothing when that differs
from what the approver saw; the outcome is committed (with its audit log entries and the messages about it)
before anything is said in Slack, then the affected check runs again. A backout's restore is scheduled before
its calls are made.
"""


from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.job import Job

from workers.aws.accounts import account_of
from workers.core import failpoints, logs
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import escape
from workers.queue import paths
from workers.queue.failures import reason as failure_reason
from workers.queue.queues import EXECUTE_TIMEOUT, MONITOR, queue
from workers.remediation import approvals, waivers
from workers.remediation.approvals import Request, RequestStatus
from workers.remediation.planning import current_plan
from workers.remediation.steps import (
    S,
    commit,
    env,
    in_thread,
    prompt_state,
    recheck_finding,
    record_executed,
    state_line,
    tell,
)
from workers.remediation.waiver_steps import waive
from workers.resources import actions
from workers.slack import outbox
from workers.slack.messages.kit import clip, section
from workers.slack.messages.prompt import outcome, recheck_result
from workers.state import auditlog, deadlines


def execute(request_id: str) -> str:
    """Check the plan against the current state, make the approved calls, commit the outcome, then say it."""
    settings, conn = env()
    logs.setup()
    req = approvals.load(conn, request_id)

    def claimed(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "executing", req.id, None, action=req.action)
        return [prompt_state(pipe, req, ":gear: checking the state, then executing…")]

    req.executing_since = time.time()
    if not commit(conn, req, S.EXECUTING, {S.APPROVED}, claimed):  # the claim: one execution per request
        return approvals.load(conn, request_id).status.value
    failpoints.hit("execute:claimed")
    if req.action == waivers.ACTION:
        return waive(conn, req)
    try:
        acct = account_of(settings, req.role_arn)
        fresh = current_plan(settings, acct, req)
    except PlanError as exc:
        return _finish(conn, req, S.FAILED, [{"call": "(none made)", "ok": False, "error": str(exc)}])
    changed = differences(req.plan or {}, fresh.to_dict())
    if changed:
        return _stale(conn, req, changed)
    backout = actions.get(req.action).backout
    if backout:  # the restore is scheduled before anything is turned off
        req.deadline = time.time() + (req.minutes or 0) * 60
        lead = min(300.0, (req.minutes or 0) * 60 / 2)
        deadlines.schedule(conn, req.id, req.doc(), req.deadline, req.deadline - lead)
        failpoints.hit("execute:deadline-committed")
    started = time.time()
    results = actions.execute(acct, fresh)
    failpoints.hit("execute:calls-made")
    record_executed(conn, req, started)
    ok = all(r["ok"] for r in results)
    # a backout's failed call may still have taken effect: it is restored at its deadline anyway
    status = (S.ACTIVE if ok else S.UNKNOWN) if backout else (S.DONE if ok else S.FAILED)
    return _finish(conn, req, status, results)


def differences(approved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the plan the approver saw and the plan the current state gives (empty: none)."""
    out = []
    if approved.get("calls") != now.get("calls"):
        before = [json.dumps(c["params"], sort_keys=True) for c in approved.get("calls", [])]
        after = [json.dumps(c["params"], sort_keys=True) for c in now.get("calls", [])]
        out.append(
            f"the calls would now be {clip('; '.join(after) or 'none', 600)} "
            f"instead of {clip('; '.join(before) or 'none', 600)}"
        )
    if approved.get("snapshot") != now.get("snapshot"):
        out.append(
            "the configuration it would replace changed: "
            f"{clip(json.dumps(now.get('snapshot'), sort_keys=True), 600)}"
        )
    before_basis = approved.get("basis") or []
    for i, basis in enumerate(now.get("basis") or []):
        was = before_basis[i] if i < len(before_basis) else {}
        if basis != was:
            name = str(basis.get("resource", "")).rsplit("/", 1)[-1]
            out.append(f"`{basis.get('field')}` of `{name}` is now `{basis.get('after')}`, not `{was.get('after')}`")
    return out


def _stale(conn: Redis, req: Request, changed: list[str]) -> str:
    text = (
        f":warning: `{req.id}` was not run: the state changed after it was planned, so nothing was changed. "
        f"{escape('; '.join(changed))}. Request it again if it is still needed."
    )

    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "stale", req.id, None, action=req.action, changes=changed)
        return [
            in_thread(pipe, req, "stale", {"text": clip(text, 3000), "blocks": [section(text)]}),
            prompt_state(pipe, req, ":warning: not run: the state changed after approval (see the thread)"),
            tell(pipe, req, "stale", text),
        ]

    commit(conn, req, S.STALE, {S.EXECUTING}, stage)
    return req.status.value


def _finish(conn: Redis, req: Request, status: RequestStatus, results: list[dict[str, Any]]) -> str:
    """Commit the outcome with its log entries and messages, then queue the re-check."""
    ok = all(r["ok"] for r in results)
    req.status = status
    state = state_line(req)

    def stage(pipe: Pipeline) -> list[str | None]:
        for r in results:
            auditlog.stage(pipe, "api_call", req.id, None, call=r["call"], ok=r["ok"], error=r.get("error"))
        auditlog.stage(pipe, "executed", req.id, None, action=req.action, ok=ok, status=status.value)
        return [
            in_thread(pipe, req, "outcome", outcome(asdict(req), results, None)),
            prompt_state(pipe, req, state),
            tell(pipe, req, "outcome", f"Your request `{req.id}` ({req.action}): {state}"),
        ]

    commit(conn, req, status, {S.EXECUTING}, stage)
    failpoints.hit("execute:committed")
    queue(conn, MONITOR).enqueue(paths.RECHECK, req.id, job_timeout=EXECUTE_TIMEOUT)
    return status.value


def execution_failed(job: Job, connection_: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback of `execute`: "failed, state unknown", logged, and a fresh re-check queued.

    A backout that got as far as scheduling its restore keeps that schedule: it is restored at its deadline.
    """
    _, conn = env()
    mark_unknown(conn, approvals.load(conn, job.args[0]), failure_reason(exc_type, exc, job.timeout))


def mark_unknown(conn: Redis, req: Request, why: str) -> None:
    """A request whose execution failed or was lost: `failed, state unknown`, said in its thread; a re-check follows."""
    req.status = S.UNKNOWN

    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "execution_failed", req.id, None, action=req.action, reason=why)
        text = f":x: {req.action} `{req.id}` failed, state unknown: {escape(why)}. A fresh re-check follows."
        return [
            in_thread(pipe, req, "unknown", {"text": text, "blocks": [section(text)]}),
            prompt_state(pipe, req, f":x: failed, state unknown ({escape(why)}); re-checking"),
        ]

    if commit(conn, req, S.UNKNOWN, {S.EXECUTING}, stage):
        queue(conn, MONITOR).enqueue(paths.RECHECK, req.id, job_timeout=EXECUTE_TIMEOUT)


def recheck_request(request_id: str) -> dict[str, Any] | None:
    """Audit the request's finding afresh and post it in the prompt's thread (an unknown fix: `rechecked`)."""
    settings, conn = env()
    req = approvals.load(conn, request_id)
    finding = recheck_finding(settings, req)
    message = recheck_result(req.id, finding)
    backout = actions.get(req.action).backout
    name = f"recheck-{int(time.time() * 1000)}"
    if req.status is S.UNKNOWN and (not backout or not req.deadline):  # no restore is due: the re-check ends it

        def stage(pipe: Pipeline) -> list[str | None]:
            auditlog.stage(pipe, "rechecked", req.id, None, status=finding["status"] if finding else None)
            return [in_thread(pipe, req, name, message)]

        commit(conn, req, S.RECHECKED, {S.UNKNOWN}, stage)
    else:
        auditlog.write(conn, "rechecked", req.id, None, status=finding["status"] if finding else None)
        if req.prompt_channel:
            outbox.send(conn, f"req-{req.id}-{name}", req.prompt_channel, message, thread=req.prompt_id())
    return finding
