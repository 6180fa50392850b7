"""The two custom steps. Each reads its inputs as the slash command would read the same words, refuses bad
input or a refused requester at once (`fail`, with the sentence the command would answer), and otherwise
queues the same work as the command. The step is completed later by the workers, through the outbox: an audit
when its report is committed, a backout when it is decided (`workers.remediation.function_steps`)."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from redis.exceptions import RedisError
from rq import Callback
from slack_bolt import BoltContext, Fail
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import Caller, Refused
from bot.change_requests import from_command
from bot.commands import Command, parse
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import queue
from workers.remediation import approvals
from workers.state import function_steps
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")
ACCOUNT = re.compile(r"^\d{12}$")


def _failed(fail: Fail, sentence: str) -> None:
    try:
        fail(error=sentence)
    except SlackApiError as exc:
        log.warning("step not failed in Slack", extra={"slack_error": exc.response.get("error")})


def run_audit(inputs: dict[str, Any], body: dict[str, Any], fail: Fail, context: BoltContext) -> None:
    """"Run a trail-audit audit": accounts (ids, or empty or "all") and regions; completed with the counts."""
    settings: Settings = context["settings"]
    accounts = [a.strip() for a in str(inputs.get("accounts") or "").replace(" ", ",").split(",") if a.strip()]
    accounts = [] if accounts == ["all"] else accounts
    bad = [a for a in accounts if not ACCOUNT.match(a)]
    cmd = parse(f"audit {inputs.get('regions') or ''}".strip())
    if bad or cmd.problem:
        _failed(fail, f"not an account id: {', '.join(bad)} (12 digits, or all)" if bad else str(cmd.problem))
        return
    event = body.get("event") or {}
    execution, token = str(event.get("function_execution_id") or ""), str(event.get("bot_access_token") or "")
    channel = str(inputs.get("channel") or settings.report_channel or settings.alert_channel or "")
    audit_id = uuid.uuid4().hex
    request = {"id": audit_id, "kind": "audit", "channel": channel, "user": str(inputs.get("user") or ""),
               "response_url": None, "regions": cmd.regions, "hours": None, "accounts": accounts or None,
               "function": execution}  # fmt: skip
    try:
        conn = connection(settings)
        function_steps.begin(conn, execution, token, audit_id)
        queue(conn).enqueue(paths.START_AUDIT, request, job_timeout=120, on_failure=Callback(paths.FAILED),
                            meta={"reply": {"channel": channel, "response_url": None, "what": "audit"}})  # fmt: skip
    except ValueError as exc:  # a malformed event: no execution id or token
        _failed(fail, str(exc))
    except RedisError:
        _failed(fail, "trail-audit cannot queue the audit right now (its queue is unreachable); nothing started")


def _backout_problem(kind: str, minutes: str, cmd: Command) -> str | None:
    """What is wrong with a backout step's inputs, as a sentence (None: nothing)."""
    if kind not in ("trail", "recorder"):
        return f"kind must be trail or recorder, not {kind!r}"
    if not minutes.isdigit():
        return f"minutes must be a whole number, not {minutes!r}"
    if cmd.problem:
        return str(cmd.problem)
    return None if cmd.name == "backout" else "expected a trail or a region and a reason"


def request_backout(
    inputs: dict[str, Any], body: dict[str, Any], fail: Fail, context: BoltContext, client: WebClient
) -> None:
    """"Request a trail-audit backout": kind (trail or recorder), its trail or region, minutes, reason and
    requester; the request goes through the same approvals as `/trail-audit backout`."""
    settings: Settings = context["settings"]
    kind, target = str(inputs.get("kind") or "trail").strip(), str(inputs.get("target") or "").strip()
    minutes = str(inputs.get("minutes") or "").strip()
    words = ["recorder", target] if kind == "recorder" else [target]
    cmd = parse(" ".join(["backout", *words, minutes, str(inputs.get("reason") or "")]))
    problem = _backout_problem(kind, minutes, cmd)
    if problem:
        _failed(fail, problem)
        return
    user, event = str(inputs.get("requester") or ""), body.get("event") or {}
    who = Caller(kind="command", user=user, team=body.get("team_id"), enterprise=body.get("enterprise_id"),
                 user_team=None, channel=settings.alert_channel, action="backout", value="", command=cmd)  # fmt: skip
    try:
        conn = connection(settings)
        context["access"].check(conn, client, who, body)  # the requester, as if they typed the command
        req = from_command(cmd, user, settings.alert_channel, settings)
        function_steps.begin(conn, str(event.get("function_execution_id") or ""),
                             str(event.get("bot_access_token") or ""), req.id)  # fmt: skip
        approvals.open_request(conn, req)
    except (Refused, PlanError, approvals.Refused, ValueError) as exc:
        _failed(fail, str(exc))
    except RedisError:
        _failed(fail, "trail-audit cannot record the request right now (Redis is unreachable); nothing started")
