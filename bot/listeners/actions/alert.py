"""A tamper alert's buttons: Restore (an approval-gated request back to the last known good state) and
Acknowledge (records who took it)."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import blocks
from bot.listeners.answers import UNREACHABLE, only_to_clicker
from workers import alerts, approvals, drift
from workers.approvals import Refused, Request
from workers.queues import connection
from workers.remediate import role_for
from workers.settings import Settings

RESTORE = "restore.last_known_good"


def restore(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: dict[str, Any]) -> None:
    """Request the restore of what an alert reports changed; it goes through approval like any fix."""
    ack()
    settings: Settings = context["settings"]
    user = body["user"]["id"]
    try:
        conn = connection(settings)
        doc = alerts.load(conn, str(action.get("value", "")))
        if doc["status"] != "open":
            raise Refused(f"This alert is {doc['status']}: there is nothing to restore.")
        field = drift.field_of(doc["kind"], doc["field"])
        plan = drift.restore_plan(doc)
        req = Request(
            id=approvals.new_id(),
            action=RESTORE,
            requester=user,
            reason=f"after alert {doc['id']}: {doc['title']}",
            account=doc["account"],
            region=doc["region"],
            resource=doc["resource"] if doc["kind"] == "trail" else doc["region"],
            check=field.check,
            channel=(body.get("channel") or {}).get("id"),
            plan=plan.to_dict(),
            permissions=drift.permissions(plan),
            role_arn=role_for(settings, doc["account"]),
        )
        approvals.open_request(conn, req)
        told = f"Restore requested by <@{user}> as request `{req.id}`."
        alerts.thread(settings, doc, {"text": told, "blocks": [blocks.section(told)]})
    except Refused as exc:
        only_to_clicker(respond, f":no_entry: {exc}")
        return
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
        return
    only_to_clicker(respond, f"Restore requested as `{req.id}`; its approval prompt follows.")


def acknowledge(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: dict[str, Any]
) -> None:
    """Record who took the alert."""
    ack()
    settings: Settings = context["settings"]
    try:
        alerts.acknowledge(connection(settings), settings, str(action.get("value", "")), body["user"]["id"])
    except Refused as exc:
        only_to_clicker(respond, f":no_entry: {exc}")
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
