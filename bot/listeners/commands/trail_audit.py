"""`/trail-audit`: acknowledged within Slack's 3 seconds; the work is queued, never done here."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict
from typing import Any

from redis.exceptions import RedisError
from rq import Callback, Worker
from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import prometheus
from bot.change_requests import from_command
from bot.commands import Command
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import channel as channel_link
from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings
from workers.monitor.status import status_lines
from workers.queue import paths
from workers.queue.queues import URGENT, queue
from workers.remediation import approvals
from workers.slack.messages.answers import ephemeral, usage
from workers.slack.messages.prompt import reason_modal
from workers.slack.messages.status import log_entries, status
from workers.slack.outbox import status_lines as outbox_lines
from workers.state import auditlog, audits
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")


def trail_audit(ack: Ack, command: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    """Parse, enqueue by dotted path, and answer ephemerally; the web process makes no AWS call."""
    settings: Settings = context["settings"]
    cmd: Command = context["command"]  # parsed once, by the access check (bot.access.caller) in front of it
    if cmd.name == "help":
        prometheus.command("help", "usage" if cmd.problem else "answered")
        ack(**usage(cmd.problem))
        return
    if cmd.name == "status":
        answer = _status(settings)
        prometheus.command("status", _outcome(answer, done="answered"))
        ack(**answer)
        return
    if cmd.name in ("remediate", "backout", "reenable", "waive"):
        answer = _request(cmd, command, settings, client)
        prometheus.command(cmd.name, _outcome(answer))
        ack(**answer)
        return
    if cmd.name == "log":
        try:
            ack(**log_entries(auditlog.newest(connection(settings), cmd.count or 20)))
            prometheus.command("log", "answered")
        except RedisError:
            prometheus.command("log", "unavailable")
            ack(**ephemeral(":x: The audit log (Redis) is unreachable right now."))
        return
    request = {
        "id": uuid.uuid4().hex,
        "kind": cmd.name,
        "channel": command.get("channel_id"),
        "user": command.get("user_id"),
        "response_url": command.get("response_url"),
        "regions": cmd.regions,
        "hours": cmd.hours,
    }
    try:
        queue(connection(settings)).enqueue(
            paths.START_AUDIT,
            request,
            job_timeout=120,
            on_failure=Callback(paths.FAILED),
            meta={"reply": {"channel": request["channel"], "response_url": request["response_url"], "what": cmd.name}},
        )
    except RedisError as exc:
        prometheus.command(cmd.name, "unavailable")
        log.error("cannot queue", extra={"error": type(exc).__name__})
        ack(
            **ephemeral(
                ":x: trail-audit cannot queue your request right now (its queue is unreachable). "
                "Nothing was started; please try again in a minute."
            )
        )
        return
    prometheus.command(cmd.name, "queued")
    what = f"regions {', '.join(cmd.regions)}" if cmd.regions else "every enabled region"
    ack(**ephemeral(f":mag: Audit of {what} queued. The report will appear in this channel."))


def _request(cmd: Command, command: dict[str, Any], settings: Settings, client: WebClient) -> dict[str, Any]:
    """`remediate`, `backout`, `reenable`: the answer to show the user (the work is queued)."""
    user, channel = command.get("user_id", ""), command.get("channel_id")
    try:
        conn = connection(settings)
        if cmd.name == "reenable":
            req = approvals.load(conn, cmd.request_id or "")
            if req.status not in (
                approvals.RequestStatus.ACTIVE,
                approvals.RequestStatus.UNKNOWN,
            ) or not req.action.startswith("backout."):
                return ephemeral(f"Request `{req.id}` is {req.status.value}, not an active backout.")
            auditlog.write(conn, "reenable_requested", req.id, user)
            queue(conn, URGENT).enqueue(paths.REENABLE, req.id, user, job_timeout=40)
            return ephemeral(f":arrows_counterclockwise: Restoring `{req.id}` now (no approval needed).")
        req = from_command(cmd, user, channel, settings)
        if cmd.name == "remediate" and not cmd.reason:
            meta = json.dumps({"command": asdict(cmd), "channel": channel})
            client.views_open(trigger_id=command["trigger_id"], view=reason_modal(
                f"*{req.action}* on {code(req.resource)}", meta))  # fmt: skip
            return ephemeral("Say why in the dialog; the approval prompt follows.")
        approvals.open_request(conn, req)
    except (PlanError, approvals.Refused) as exc:
        return usage(str(exc)) if isinstance(exc, PlanError) else ephemeral(f":no_entry: {exc}")
    except RedisError:
        return ephemeral(":x: trail-audit cannot queue your request right now (Redis is unreachable).")
    except SlackApiError as exc:
        log.warning("reason dialog not opened", extra={"slack_error": exc.response.get("error")})
        return ephemeral(
            "The reason dialog could not be opened; give the reason in the command: "
            + escape(f"`/trail-audit remediate {cmd.check} {cmd.resource} <reason>`.")
        )
    where = channel_link(settings.alert_channel) if settings.alert_channel else "the alert channel"
    return ephemeral(f"Request `{req.id}` ({req.action}) recorded; its approval prompt will appear in {where}.")


def _outcome(answer: dict[str, Any], done: str = "recorded") -> str:
    """What became of a command, from its answer's mark: unavailable (Redis), refused, or `done`."""
    text = str(answer.get("text", ""))
    if text.startswith(":x:"):
        return "unavailable"
    return "refused" if text.startswith((":no_entry:", ":grey_question:", "*Usage")) else done


def _status(settings: Settings) -> dict[str, Any]:
    try:
        conn = connection(settings)
        q = queue(conn)
        workers = Worker.count(connection=conn)
        pending = [asdict(r) for r in approvals.pending(conn)]
        active = [asdict(r) for r in approvals.active(conn)]
        watching = status_lines(conn) + outbox_lines(conn)
        return status(len(q), workers, audits.last(conn), pending, active, watching)
    except RedisError:
        return ephemeral(":x: The queue (Redis) is unreachable.")
