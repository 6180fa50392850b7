"""The reason dialog submitted: the request is recorded and its planning queued."""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.commands import Command
from bot.requests import from_command, from_fix
from workers import approvals
from workers.queues import connection
from workers.remediations import PlanError
from workers.settings import Settings

log = logging.getLogger("trail_audit.bot")


def request_reason(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    """Create the request from the dialog's metadata (a report's fix, or a command) and its reason."""
    settings: Settings = context["settings"]
    reason = (view["state"]["values"].get("reason", {}).get("value", {}).get("value") or "").strip()
    if not reason:
        ack(response_action="errors", errors={"reason": "Say why, for the approver."})
        return
    meta = json.loads(view.get("private_metadata") or "{}")
    user = body["user"]["id"]
    try:
        conn = connection(settings)
        if "fix" in meta:
            req = from_fix(conn, str(meta["fix"]), user, meta.get("channel"), reason[:500])
        else:
            cmd = Command(**{**meta["command"], "reason": reason[:500]})
            req = from_command(cmd, user, meta.get("channel"), settings)
        approvals.open_request(conn, req)
    except PlanError as exc:
        ack(response_action="errors", errors={"reason": str(exc)[:150]})
        return
    except RedisError:
        ack(response_action="errors", errors={"reason": "trail-audit cannot reach its state (Redis); try again."})
        return
    ack()
    if req.channel:
        try:
            client.chat_postEphemeral(
                channel=req.channel,
                user=user,
                text=f"Request `{req.id}` ({req.action}) recorded; its approval prompt follows.",
            )
        except SlackApiError as exc:
            log.warning("requester not told", extra={"slack_error": exc.response.get("error"), "request": req.id})
