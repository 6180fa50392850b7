"""Putting an approved waiver in force, and ending it when its time is up.
"""


from __future__ import annotations

import time

from redis import Redis
from redis.client import Pipeline

from workers.core.mrkdwn import code
from workers.remediation import approvals, waivers
from workers.remediation.approvals import Request
from workers.remediation.steps import S, commit, in_thread, prompt_state, state_line, tell
from workers.slack.messages.kit import clip, section
from workers.state import auditlog
from workers.state.waivers import stage_accept, stage_end, unschedule


def waive(conn: Redis, req: Request) -> str:
    """Put an approved waiver in force: the request is active until it ends, the finding shows as WAIVED."""
    made = approvals.decision(conn, req.id)
    doc = waivers.waiver(req, made.user if made else None, time.time())
    req.deadline = doc["until"]
    req.status = S.ACTIVE
    text = (f":shield: Waiver of {code(req.check or '?')} on {code(req.resource)} in force: "
            f"{waivers.line(doc)}. It ends by itself; the finding counts again then.")  # fmt: skip

    def stage(pipe: Pipeline) -> list[str | None]:
        stage_accept(pipe, doc)
        auditlog.stage(pipe, "waived", req.id, None, check=req.check, resource=req.resource, until=doc["until_iso"])
        return [
            in_thread(pipe, req, "waived", {"text": clip(text, 3000), "blocks": [section(text)]}),
            prompt_state(pipe, req, state_line(req)),
            tell(pipe, req, "waived", text),
        ]

    commit(conn, req, S.ACTIVE, {S.EXECUTING}, stage)
    return req.status.value


def end_waiver(conn: Redis, request_id: str) -> bool:
    """A waiver's time is up: it ends (the finding counts again), with a note in its thread. False if it had
    ended already."""
    req = approvals.load(conn, request_id)
    if req.status is not S.ACTIVE or req.action != waivers.ACTION:
        unschedule(conn, request_id)
        return False
    req.status = S.EXPIRED
    text = (f":hourglass: The waiver of {code(req.check or '?')} on {code(req.resource)} ended: the finding "
            "counts again from the next audit.")  # fmt: skip

    def stage(pipe: Pipeline) -> list[str | None]:
        stage_end(pipe, waivers.subject(req), req.id)
        auditlog.stage(pipe, "waiver_ended", req.id, None, check=req.check, resource=req.resource)
        return [
            in_thread(pipe, req, "waiver-ended", {"text": text, "blocks": [section(text)]}),
            prompt_state(pipe, req, ":hourglass: waiver ended"),
        ]

    return commit(conn, req, S.EXPIRED, {S.ACTIVE}, stage)
