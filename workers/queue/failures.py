"""What a job that owns a Slack message carries, and one sentence on why a job failed.

Such a job is enqueued with `on_failure=Callback(paths.FAILED)` (`workers.slack.failed_jobs.report`) and
`meta["reply"]` naming where to answer. RQ calls the callback when the job raises, times out, or (through the
watchdog) when the worker running it died.
"""

from __future__ import annotations

from typing import Any

from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException


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
