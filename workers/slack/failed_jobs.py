"""A failed job says so in Slack, never silently: RQ's failure callback for every job that owns a message."""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq.job import Job

from workers.queue.failures import reason
from workers.slack import outbox
from workers.slack.messages.answers import failed

log = logging.getLogger("trail_audit.failures")


def report(job: Job, connection: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback: say in Slack that the job failed, replacing its message when there is one."""
    meta = job.meta.get("reply") or {}
    why = reason(exc_type, exc, job.timeout)
    log.warning("job failed", extra={"job": job.id, "func": job.func_name, "reason": why})
    message = failed(why, meta.get("what", "audit"))
    conn = connection
    mid = meta.get("message") or f"failed-{job.id}"
    if meta.get("message") or meta.get("channel") or meta.get("response_url"):
        outbox.send(conn, mid, meta.get("channel"), message, response_url=meta.get("response_url"),
                    kind="message" if meta.get("channel") else "response")  # fmt: skip

