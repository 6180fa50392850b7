"""A report's "Request fix" button: ask the requester why, in a dialog."""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.listeners.answers import UNREACHABLE, only_to_clicker
from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings
from workers.slack.messages.prompt import reason_modal
from workers.state import fix_offers
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")


def request_fix(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: dict[str, Any]
) -> None:
    """Open the reason dialog for the finding behind the button (its value is an opaque id)."""
    ack()
    settings: Settings = context["settings"]
    fix_id = str(action.get("value", ""))
    try:
        fix = fix_offers.recall(connection(settings), fix_id)
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
        return
    if fix is None:
        only_to_clicker(respond, "This report's fix button has expired or is not valid: run `/trail-audit` again.")
        return
    where = escape(f"{fix['account']} · {fix['region']}")
    subject = f"*{escape(fix['remediation'])}* for *{escape(fix['check'])}* on {code(fix['resource'])} ({where})"
    channel = (body.get("channel") or {}).get("id")
    meta = json.dumps({"fix": fix_id, "channel": channel})
    try:
        client.views_open(trigger_id=body["trigger_id"], view=reason_modal(subject, meta))
    except SlackApiError as exc:
        log.warning("reason dialog not opened", extra={"slack_error": exc.response.get("error")})
        only_to_clicker(respond, ":x: The reason dialog could not be opened (Slack said no); click the button again.")
