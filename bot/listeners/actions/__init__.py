"""Button clicks: "Request fix" and an account's details on a report, Approve and Deny on a prompt, Restore and
Acknowledge on an alert."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.actions.alert import acknowledge, acknowledge_all, restore, restore_all
from bot.listeners.actions.decide import approve, deny
from bot.listeners.actions.report_account import report_account
from bot.listeners.actions.request_fix import request_fix


def register(app: App) -> None:
    """Register the button listeners."""
    app.action("request_fix")(request_fix)
    app.action("approve")(approve)
    app.action("deny")(deny)
    app.action("restore")(restore)
    app.action("ack_alert")(acknowledge)
    app.action("restore_all")(restore_all)
    app.action("ack_group")(acknowledge_all)
    app.action("report_account")(report_account)
