"""Ending backouts: re-enable (at the deadline, or early by anyone: the safe direction), and the sweep that fires
deadlines, reminds before them, requeues lost executions, expires requests and ends waivers.

A backout whose execution ended unknown is restored at its deadline anyway.
"""


from __future__ import annotations

import time
from dataclasses import asdict

from redis import Redis
from redis.client import Pipeline

from workers.aws.accounts import account_of
from workers.core import failpoints, logs
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import mention
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import EXECUTE_TIMEOUT, MONITOR, REENABLE_TIMEOUT, URGENT, queue
from workers.remediation import approvals
from workers.remediation.approvals import Request, enqueue_execute
from workers.remediation.execution import mark_unknown
from workers.remediation.steps import (
    S,
    commit,
    env,
    in_thread,
    log,
    prompt_state,
    record_executed,
)
from workers.remediation.waiver_steps import end_waiver
from workers.resources import actions
from workers.slack import outbox
from workers.slack.messages.kit import section
from workers.slack.messages.prompt import outcome
from workers.state import auditlog, deadlines
from workers.state.transactions import atomic
from workers.state.waivers import due

RESTORABLE = {S.ACTIVE, S.UNKNOWN, S.EXECUTING}


def reenable(request_id: str, actor: str) -> str:
    """Restore a backout's snapshot exactly (at its deadline, or early by anyone: the safe direction)."""
    settings, conn = env()
    logs.setup()
    req = approvals.load(conn, request_id)
    if req.status not in RESTORABLE or not actions.get(req.action).backout:
        deadlines.drop(conn, req.id)
        return req.status.value
    if req.status is S.EXECUTING and time.time() < (req.deadline or 0):
        return "still executing"  # its own job is running; the deadline fires the restore if it hangs
    # held no longer than the sweep's lease, so a re-enable whose worker died is not blocked when fired again
    if not deadlines.take_restore(conn, req.id, actor, settings.restore_lease_seconds):
        return "already restoring"
    failpoints.hit("reenable:locked")
    try:
        return _reenable(settings, conn, req, actor)
    finally:
        deadlines.release_restore(conn, req.id)


def _reenable(settings: Settings, conn: Redis, req: Request, actor: str) -> str:
    snapshot = (req.plan or {}).get("snapshot")
    started = time.time()
    if snapshot is None:
        results = [{"call": "(none needed: no snapshot, so nothing was turned off)", "ok": True}]
    else:
        try:
            results = actions.execute(account_of(settings, req.role_arn), actions.reenable(snapshot))
        except PlanError as exc:
            results = [{"call": "(none made)", "ok": False, "error": str(exc)}]
    failpoints.hit("reenable:calls-made")
    record_executed(conn, req, started, "reenable")
    ok = all(r["ok"] for r in results)
    who = "at its deadline" if actor == "deadline" else f"early by {mention(actor)}"
    if not ok:  # the backout stays in force and the restore is tried again: monitoring must come back
        retry = settings.reenable_retry_seconds
        text = f":x: restore of `{req.id}` failed; trying again in {retry:.0f} s"
        with atomic(conn) as pipe:
            for r in results:
                auditlog.stage(pipe, "api_call", req.id, actor, call=r["call"], ok=r["ok"], error=r.get("error"))
            auditlog.stage(pipe, "reenable_failed", req.id, actor, when=who)
            deadlines.retry_at(pipe, req.id, time.time() + retry)
            told = outcome(asdict(req), results, None) | {"text": text}
            mid = in_thread(pipe, req, f"reenable-failed-{int(started)}", told)
        outbox.kick(conn, [mid] if mid else [])
        return req.status.value
    req.status = S.RESTORED

    def stage(pipe: Pipeline) -> list[str | None]:
        for r in results:
            auditlog.stage(pipe, "api_call", req.id, actor, call=r["call"], ok=r["ok"], error=r.get("error"))
        auditlog.stage(pipe, "reenabled", req.id, actor, ok=True, when=who)
        deadlines.clear(pipe, req.id)
        return [
            in_thread(pipe, req, "restored", outcome(asdict(req), results, None)),
            prompt_state(pipe, req, f":white_check_mark: restored {who}"),
        ]

    if commit(conn, req, S.RESTORED, RESTORABLE, stage):
        failpoints.hit("reenable:committed")
        queue(conn, MONITOR).enqueue(paths.RECHECK, req.id, job_timeout=EXECUTE_TIMEOUT)
    return req.status.value


def sweep_due(settings: Settings | None = None, conn: Redis | None = None) -> dict[str, int]:
    """Cron job: re-enable backouts whose deadline passed, remind before it, requeue lost executions, expire."""
    if settings is None or conn is None:  # the clock passes its own (read once)
        settings, conn = env()
    now = time.time()
    fired = 0
    # each stays due a lease ahead: if its re-enable is lost (a killed worker), the next sweep fires it
    for rid in deadlines.fire_due(conn, now, settings.restore_lease_seconds):
        queue(conn, URGENT).enqueue(paths.REENABLE, rid, "deadline", job_timeout=REENABLE_TIMEOUT)
        fired += 1
    reminded = sum(1 for rid in deadlines.reminders_due(conn, now) if _remind(conn, rid))
    for req in approvals.approved(conn):  # approved, but its execution was never queued (or was lost)
        made = approvals.decision(conn, req.id)
        stuck = made is not None and now - made.at > settings.stuck_after_seconds
        if stuck and deadlines.take_requeue(conn, req.id, settings.stuck_after_seconds):
            enqueue_execute(conn, req.id)
            auditlog.write(conn, "requeued", req.id, None, action=req.action)
    for req in approvals.executing(conn):  # the backstop for an execution whose worker vanished unseen
        if now - (req.executing_since or now) > EXECUTE_TIMEOUT + settings.stuck_after_seconds:
            mark_unknown(conn, req, "its execution stopped without a word (the worker was lost)")
    expired = sum(
        1
        for req in approvals.pending(conn)
        if req.status is S.PENDING and now > req.expires and approvals.expire(conn, req)
    )
    ended = sum(1 for rid in due(conn, now) if end_waiver(conn, rid))
    if fired or reminded or expired or ended:
        log.info("sweep", extra={"fired": fired, "reminded": reminded, "expired": expired, "waivers_ended": ended})
    return {"fired": fired, "reminded": reminded, "expired": expired, "waivers_ended": ended}


def _remind(conn: Redis, rid: str) -> bool:
    """Tell the requester, in the prompt's thread, that their backout ends soon (and how to end it now)."""
    req = approvals.load(conn, rid)
    if req.status is not S.ACTIVE or not req.deadline or not req.prompt_channel:
        return False
    when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
    text = (f":alarm_clock: {mention(req.requester)} backout `{rid}` ends at {when}; "
            f"`/trail-audit reenable {rid}` ends it now.")  # fmt: skip
    message = {"text": text, "blocks": [section(text)]}
    outbox.send(conn, f"req-{rid}-remind", req.prompt_channel, message, thread=req.prompt_id())
    return True
