"""Approve and Deny on an approval prompt: the first valid decision wins; others are told who decided."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.listeners.answers import UNREACHABLE, only_to_clicker
from workers import approvals
from workers.approvals import Refused
from workers.queues import connection
from workers.remediate import enqueue_execute
from workers.settings import Settings

log = logging.getLogger("trail_audit.bot")


def approve(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: dict[str, Any]
) -> None:
    """Approve: record the decision and queue the execution."""
    ack()
    _decide(True, body, action, client, respond, context["settings"])


def deny(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: dict[str, Any]
) -> None:
    """Deny: record the decision; nothing is changed."""
    ack()
    _decide(False, body, action, client, respond, context["settings"])


def _decide(
    approved: bool,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    respond: Respond,
    settings: Settings,
) -> None:
    user = body["user"]["id"]
    try:
        conn = connection(settings)
        req = approvals.decide(
            conn,
            str(action.get("value", "")),
            user,
            approved,
            settings.approvers,
            lambda group: _members(client, group),
        )
    except Refused as exc:
        only_to_clicker(respond, f":no_entry: {exc}")
        return
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
        return
    made = approvals.decision(conn, req.id)
    assert made is not None
    state = f":white_check_mark: {made.sentence()}: executing…" if approved else f":no_entry_sign: {made.sentence()}"
    if req.prompt:
        try:
            client.chat_update(channel=req.prompt["channel"], ts=req.prompt["ts"], **blocks.prompt(asdict(req), state))
        except SlackApiError as exc:  # the decision is recorded either way; the execution updates the prompt too
            log.warning("prompt not updated", extra={"slack_error": exc.response.get("error"), "request": req.id})
    if approved:
        enqueue_execute(conn, req.id)
    elif req.channel:
        try:
            client.chat_postEphemeral(
                channel=req.channel,
                user=req.requester,
                text=f"Your request `{req.id}` ({req.action}) was {made.sentence()}.",
            )
        except SlackApiError as exc:
            log.warning("requester not told", extra={"slack_error": exc.response.get("error"), "request": req.id})


def _members(client: WebClient, group: str) -> set[str]:
    try:
        return set(client.usergroups_users_list(usergroup=group).get("users") or [])
    except SlackApiError as exc:
        log.warning("user group not read", extra={"slack_error": exc.response.get("error"), "group": group})
        return set()
