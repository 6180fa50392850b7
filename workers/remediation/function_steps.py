"""Completing Workflow Builder steps that wait for a decision: the clock's sweep completes a "Request a
trail-audit backout" step once its request is decided. Approved and run: success, with the request's id and
status. Denied, expired, failed or not run: an error saying so. The completion is staged in the outbox in the
same commit that marks the step done, so it is sent once, and later if Slack is down."""

from __future__ import annotations

from redis import Redis

from workers.core.settings import Settings
from workers.remediation import approvals
from workers.slack import outbox
from workers.state import function_steps, outgoing
from workers.state.transactions import atomic

S = approvals.RequestStatus
SUCCEEDED = (S.ACTIVE, S.DONE, S.RESTORED, S.RECHECKED)
REFUSED = {S.DENIED: "was denied", S.EXPIRED: "expired before anyone approved it", S.FAILED: "failed",
           S.STALE: "was not run: the state changed", S.UNKNOWN: "failed, its state unknown"}  # fmt: skip


def sweep(settings: Settings, conn: Redis) -> int:
    """Clock job: complete the steps whose request is decided; returns how many."""
    done = 0
    for execution, request_id in function_steps.open_steps(conn):
        try:
            req = approvals.load(conn, request_id)
        except approvals.Refused:
            continue  # an audit's step (completed with its report), or a request not recorded yet
        if req.status in SUCCEEDED:
            body = {"execution": execution, "outputs": {"request_id": req.id, "status": req.status.value}}
        elif req.status in REFUSED:
            body = {"execution": execution, "error": f"the backout request {req.id} {REFUSED[req.status]}"}
        else:
            continue
        with atomic(conn) as pipe:
            function_steps.stage_done(pipe, execution)
            staged = outgoing.stage(pipe, f"fn-{execution}", None, body, kind="function")
        outbox.kick(conn, [staged])
        done += 1
    return done
