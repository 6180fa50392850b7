"""Events API surface: the App Home tab."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.events.app_home import app_home_opened


def register(app: App) -> None:
    """Register the event listeners."""
    app.event("app_home_opened")(app_home_opened)
