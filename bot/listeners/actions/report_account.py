"""The report's "Details of an account…" menu: that account's findings, posted in the report's thread."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot.listeners.answers import UNREACHABLE, only_to_clicker
from workers.core.settings import Settings
from workers.remediation.approvals import role_for
from workers.slack import outbox
from workers.slack.messages.rollup import account_details
from workers.state import audits, fix_offers, outgoing
from workers.state.connection import connection


def report_account(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: dict[str, Any]
) -> None:
    """Post one account's findings (each fix with its button) as replies to the report."""
    ack()
    settings: Settings = context["settings"]
    audit_id, _, account = str((action.get("selected_option") or {}).get("value", "")).partition(":")
    try:
        conn = connection(settings)
        doc = audits.report(conn, audit_id)
        if doc is None:
            only_to_clicker(respond, "This report has expired (reports are kept a week): run `/trail-audit` again.")
            return
        mine = [f for f in doc["findings"] if f["account"] == account]
        report = outgoing.where(conn, outbox.report_id(audit_id))
        if not mine or report is None:
            only_to_clicker(respond, "That account has no findings in this report.")
            return
        role = role_for(settings, account)
        fix_ids = {i: fix_offers.remember(conn, f, role, outbox.report_id(audit_id), report.channel)
                   for i, f in enumerate(mine) if f["status"] == "FAIL" and f.get("remediation")}  # fmt: skip
        for n, reply in enumerate(account_details({"findings": mine}, account, fix_ids)):
            outbox.send(conn, f"{outbox.report_id(audit_id)}-account-{account}-{n}", report.channel, reply,
                        thread=outbox.report_id(audit_id))  # fmt: skip
    except RedisError:
        only_to_clicker(respond, UNREACHABLE)
