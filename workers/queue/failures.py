"""Failed jobs are reported in Slack, never silent.

Every job that owns a Slack message is enqueued with `on_failure=Callback("workers.queue.failures.report")` and
`meta["reply"]` naming where to answer. RQ calls the callback when the job raises, times out, or (through the
watchdog) when the worker running it died.
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from workers.core.settings import Settings
from workers.queue import queues
from workers.slack import messages as blocks
from workers.slack import outbox

log = logging.getLogger("trail_audit.failures")
CALLBACK = "workers.queue.failures.report"


def reply_meta(channel: str | None, response_url: str | None, message: str | None = None) -> dict[str, Any]:
    """What a job carries in `meta["reply"]`: the outbox message to replace, or where to post."""
    return {"channel": channel, "response_url": response_url, "message": message}


def reason(exc_type: type[BaseException] | None, exc: BaseException | None, timeout: float | None) -> str:
    """One sentence on why a job failed, without a traceback."""
    if exc_type is not None and issubclass(exc_type, AbandonedJobError):
        return "the worker running it stopped before it finished (killed or lost)"
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        return f"it timed out after {timeout or 0:g} seconds"
    text = str(exc or "")[:200]
    return f"{exc_type.__name__ if exc_type else 'error'}: {text}" if text else (exc_type or Exception).__name__


def report(job: Job, connection: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback: say in Slack that the job failed, replacing its message when there is one."""
    meta = job.meta.get("reply") or {}
    why = reason(exc_type, exc, job.timeout)
    log.warning("job failed", extra={"job": job.id, "func": job.func_name, "reason": why})
    message = blocks.failed(why, meta.get("what", "audit"))
    conn = queues.connection(Settings())
    mid = meta.get("message") or f"failed-{job.id}"
    if meta.get("message") or meta.get("channel") or meta.get("response_url"):
        outbox.send(conn, mid, meta.get("channel"), message, response_url=meta.get("response_url"),
                    kind="message" if meta.get("channel") else "response")  # fmt: skip
