"""Approve and Deny on an approval prompt: the first valid decision wins; others are told who decided."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.access import Access
from bot.listeners.answers import UNREACHABLE, only_to_clicker
from workers.core.settings import Settings
from workers.remediation import approvals
from workers.remediation.approvals import Refused, enqueue_execute
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")


def approve(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: dict[str, Any]
) -> None:
    """Approve: record the decision and queue the execution."""
    ack()
    _decide(True, body, action, client, respond, context)


def deny(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: dict[str, Any]
) -> None:
    """Deny: record the decision; nothing is changed."""
    ack()
    _decide(False, body, action, client, respond, context)


def _decide(
    approved: bool,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: dict[str, Any],
) -> None:
    settings: Settings = context["settings"]
    user = body["user"]["id"]
    try:
        conn = connection(settings)
        access: Access = context["access"]
        req = approvals.decide(
            conn, str(action.get("value", "")), user, approved, settings.approvers,
            lambda group: access.members(conn, client, group),
        )  # fmt: skip
        if approved:  # the decision is committed; if this is lost, the sweep queues the execution again
            enqueue_execute(conn, req.id)
    except Refused as exc:
        only_to_clicker(respond, f":no_entry: {exc}")
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
