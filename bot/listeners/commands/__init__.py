"""Slash commands."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.commands.trail_audit import trail_audit


def register(app: App) -> None:
    """`/trail-audit`."""
    app.command("/trail-audit")(trail_audit)
