"""The reason dialog submitted: the request is recorded and its planning queued."""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack
from slack_sdk import WebClient

from bot.change_requests import from_command, from_fix
from bot.commands import Command
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings
from workers.remediation import approvals
from workers.slack import outbox
from workers.slack.messages.answers import ephemeral
from workers.state.connection import connection

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
        text = f"Request `{req.id}` ({req.action}) recorded; its approval prompt follows."
        try:
            outbox.send(
                conn, f"req-{req.id}-recorded", req.channel, ephemeral(text), user=user, kind="ephemeral"
            )
        except RedisError:
            log.warning("requester not told", extra={"request": req.id})
