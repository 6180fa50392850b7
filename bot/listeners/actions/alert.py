"""A tamper alert's buttons: Restore (an approval-gated request back to the last known good state), Restore
all (one request for every restorable change of a rolled-up alert), Acknowledge and Acknowledge all.

The restore's plan was computed by the monitor when it raised the alert (the web process makes no AWS call);
it is checked against the current state again when it is approved.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot.listeners.answers import UNREACHABLE, only_to_clicker
from workers.core.ids import new_id
from workers.core.mrkdwn import mention
from workers.core.settings import Settings
from workers.monitor import alerts
from workers.remediation import approvals
from workers.remediation.approvals import Refused, Request, role_for
from workers.slack import outbox
from workers.slack.messages.kit import section
from workers.state import alert_records
from workers.state.connection import connection

RESTORE = "restore.last_known_good"
RESTORABLE = ("open", "acknowledged")


def _request(settings: Settings, docs: list[dict[str, Any]], user: str, channel: str | None) -> Request:
    """One restore request for the restorable alerts among `docs` (all of one account and region)."""
    docs = [d for d in docs if d.get("restorable") and d.get("restore") and d["status"] in RESTORABLE]
    if not docs:
        raise Refused("Nothing here can be restored any more (recovered, or not a change of state).")
    first = docs[0]
    calls = [c for d in docs for c in d["restore"]["plan"]["calls"]]
    bases = [b for d in docs for b in d["restore"]["plan"].get("basis") or []]
    permissions = sorted({p for d in docs for p in d["restore"]["permissions"]})
    title = first["title"] if len(docs) == 1 else f"{len(docs)} changes in {first['account']} {first['region']}"
    return Request(
        id=new_id(),
        action=RESTORE,
        requester=user,
        reason=f"after alert {first['id']}: {title}",
        account=first["account"],
        region=first["region"],
        resource=first["restore"].get("resource", first["resource"] if first["kind"] == "trail" else first["region"])
        if len(docs) == 1 else first["region"],
        check=first["restore"]["check"] if len(docs) == 1 else None,
        channel=channel,
        plan={"calls": calls, "snapshot": None, "basis": bases},
        permissions=permissions,
        role_arn=role_for(settings, first["account"]),
    )


def _open(conn: Redis, settings: Settings, docs: list[dict[str, Any]], user: str, channel: str | None) -> Request:
    req = _request(settings, docs, user, channel)
    approvals.open_request(conn, req)
    told = f"Restore requested by {mention(user)} as request `{req.id}`."
    if alerts.channel_of(settings, docs[0]):
        outbox.send(
            conn,
            f"alert-restore-{req.id}",
            alerts.channel_of(settings, docs[0]),
            {"text": told, "blocks": [section(told)]},
            thread=alerts.group_id(docs[0]),
        )
    return req


def restore(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: dict[str, Any]) -> None:
    """Request the restore of what one alert reports changed; it goes through approval like any fix."""
    ack()
    one = lambda conn, value: [alert_records.load(conn, value)]  # noqa: E731
    _restore(body, respond, context["settings"], one, str(action.get("value", "")))


def restore_all(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: dict[str, Any]
) -> None:
    """Request one restore for every restorable change of a rolled-up alert."""
    ack()
    _restore(body, respond, context["settings"], alert_records.group_of, str(action.get("value", "")))


def _restore(body: dict[str, Any], respond: Respond, settings: Settings, find: Any, value: str) -> None:
    user = body["user"]["id"]
    try:
        conn = connection(settings)
        req = _open(conn, settings, find(conn, value), user, (body.get("channel") or {}).get("id"))
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
    _acknowledge(body, respond, context["settings"], lambda conn, value: [value], str(action.get("value", "")))


def acknowledge_all(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: dict[str, Any]
) -> None:
    """Record who took every open alert of a rolled-up message."""
    ack()
    ids = lambda conn, value: [d["id"] for d in alert_records.group_of(conn, value) if d["status"] == "open"]  # noqa: E731
    _acknowledge(body, respond, context["settings"], ids, str(action.get("value", "")))


def _acknowledge(body: dict[str, Any], respond: Respond, settings: Settings, find: Any, value: str) -> None:
    try:
        conn = connection(settings)
        for alert_id in find(conn, value):
            alerts.acknowledge(conn, settings, alert_id, body["user"]["id"])
    except Refused as exc:
        only_to_clicker(respond, f":no_entry: {exc}")
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
