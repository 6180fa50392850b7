"""The "Run a trail-audit audit" Workflow Builder step, completed by the audit itself: with the counts by status
and where the report is, staged in the report's own commit; or with an error when the audit did not finish."""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.slack import outbox
from workers.slack.messages.finding_lines import shown_status
from workers.state import function_steps, outgoing
from workers.state.transactions import atomic


def stage_audit_done(
    pipe: Pipeline, conn: Redis, request: dict[str, Any], doc: dict[str, Any], channel: str
) -> list[str]:
    """Stage the step's success with the report's commit (nothing when the audit was not started by a step)."""
    execution = request.get("function") and function_steps.of_subject(conn, request["id"])
    if not execution:
        return []
    counts = Counter(shown_status(f) for f in doc["findings"])
    outputs = {"failing": counts.get("FAIL", 0), "unverifiable": counts.get("ERROR", 0),
               "passing": counts.get("PASS", 0), "skipped": counts.get("SKIPPED", 0),
               "waived": counts.get("WAIVED", 0), "audit_id": doc["id"], "report_channel": channel}  # fmt: skip
    function_steps.stage_done(pipe, execution)
    return [outgoing.stage(pipe, f"fn-{execution}", None, {"execution": execution, "outputs": outputs},
                           kind="function")]  # fmt: skip


def fail_audit(conn: Redis, request: dict[str, Any], sentence: str) -> None:
    """Complete the step with an error: its audit did not finish."""
    execution = request.get("function") and function_steps.of_subject(conn, request["id"])
    if not execution:
        return
    with atomic(conn) as pipe:
        function_steps.stage_done(pipe, execution)
        staged = outgoing.stage(pipe, f"fn-{execution}", None, {"execution": execution, "error": sentence},
                                kind="function")  # fmt: skip
    outbox.kick(conn, [staged])
