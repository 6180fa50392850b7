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

from bot import metrics
from bot.commands import Command, parse
from bot.requests import from_command
from workers.core.catalogue import PlanError
from workers.core.mrkdwn import channel as channel_link
from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings
from workers.monitor.status import status_lines
from workers.queue.failures import CALLBACK
from workers.queue.queues import URGENT, connection, queue
from workers.remediation import approvals, auditlog
from workers.slack import messages as blocks
from workers.slack.outbox import status_lines as outbox_lines
from workers.state import keys

log = logging.getLogger("trail_audit.bot")


def trail_audit(ack: Ack, command: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    """Parse, enqueue by dotted path, and answer ephemerally; the web process makes no AWS call."""
    settings: Settings = context["settings"]
    cmd = parse(command.get("text", ""))
    if cmd.name == "help":
        metrics.command("help", "usage" if cmd.problem else "answered")
        ack(**blocks.usage(cmd.problem))
        return
    if cmd.name == "status":
        answer = _status(settings)
        metrics.command("status", _outcome(answer, done="answered"))
        ack(**answer)
        return
    if cmd.name in ("remediate", "backout", "reenable", "waive"):
        answer = _request(cmd, command, settings, client)
        metrics.command(cmd.name, _outcome(answer))
        ack(**answer)
        return
    if cmd.name == "log":
        try:
            ack(**blocks.log_entries(auditlog.newest(connection(settings), cmd.count or 20)))
            metrics.command("log", "answered")
        except RedisError:
            metrics.command("log", "unavailable")
            ack(**blocks.ephemeral(":x: The audit log (Redis) is unreachable right now."))
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
            "workers.audit.jobs.start_audit",
            request,
            job_timeout=120,
            on_failure=Callback(CALLBACK),
            meta={"reply": {"channel": request["channel"], "response_url": request["response_url"], "what": cmd.name}},
        )
    except RedisError as exc:
        metrics.command(cmd.name, "unavailable")
        log.error("cannot queue", extra={"error": type(exc).__name__})
        ack(
            **blocks.ephemeral(
                ":x: trail-audit cannot queue your request right now (its queue is unreachable). "
                "Nothing was started; please try again in a minute."
            )
        )
        return
    metrics.command(cmd.name, "queued")
    what = f"regions {', '.join(cmd.regions)}" if cmd.regions else "every enabled region"
    ack(**blocks.ephemeral(f":mag: Audit of {what} queued. The report will appear in this channel."))


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
                return blocks.ephemeral(f"Request `{req.id}` is {req.status.value}, not an active backout.")
            auditlog.write(conn, "reenable_requested", req.id, user)
            queue(conn, URGENT).enqueue("workers.remediation.jobs.reenable", req.id, user, job_timeout=40)
            return blocks.ephemeral(f":arrows_counterclockwise: Restoring `{req.id}` now (no approval needed).")
        req = from_command(cmd, user, channel, settings)
        if cmd.name == "remediate" and not cmd.reason:
            meta = json.dumps({"command": asdict(cmd), "channel": channel})
            client.views_open(trigger_id=command["trigger_id"], view=blocks.reason_modal(
                f"*{req.action}* on {code(req.resource)}", meta))  # fmt: skip
            return blocks.ephemeral("Say why in the dialog; the approval prompt follows.")
        approvals.open_request(conn, req)
    except (PlanError, approvals.Refused) as exc:
        return blocks.usage(str(exc)) if isinstance(exc, PlanError) else blocks.ephemeral(f":no_entry: {exc}")
    except RedisError:
        return blocks.ephemeral(":x: trail-audit cannot queue your request right now (Redis is unreachable).")
    except SlackApiError as exc:
        log.warning("reason dialog not opened", extra={"slack_error": exc.response.get("error")})
        return blocks.ephemeral(
            "The reason dialog could not be opened; give the reason in the command: "
            + escape(f"`/trail-audit remediate {cmd.check} {cmd.resource} <reason>`.")
        )
    where = channel_link(settings.alert_channel) if settings.alert_channel else "the alert channel"
    return blocks.ephemeral(f"Request `{req.id}` ({req.action}) recorded; its approval prompt will appear in {where}.")


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
        last = conn.get(keys.LAST_AUDIT)
        pending = [asdict(r) for r in approvals.pending(conn)]
        active = [asdict(r) for r in approvals.active(conn)]
        watching = status_lines(conn) + outbox_lines(conn)
        return blocks.status(len(q), workers, json.loads(last) if last else None, pending, active, watching)
    except RedisError:
        return blocks.ephemeral(":x: The queue (Redis) is unreachable.")
