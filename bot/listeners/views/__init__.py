"""Dialog submissions."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.views.request_reason import request_reason


def register(app: App) -> None:
    """Register the dialog listeners."""
    app.view("request_reason")(request_reason)
