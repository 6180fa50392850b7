"""Every listener surface, registered on the app."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, events, functions, views


def register(app: App) -> None:
    """Register every surface's listeners."""
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
    functions.register(app)
