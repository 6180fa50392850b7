"""Events API surface: the App Home tab, and the end of an installation."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.events.app_home import app_home_opened
from bot.listeners.events.installs import installation_ended


def register(app: App) -> None:
    """Register the event listeners."""
    app.event("app_home_opened")(app_home_opened)
    app.event("app_uninstalled")(installation_ended)
    app.event("tokens_revoked")(installation_ended)
