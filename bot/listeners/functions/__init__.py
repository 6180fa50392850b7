"""Workflow Builder custom steps (Bolt functions, declared in manifest.json): run an audit, request a backout."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.functions.steps import request_backout, run_audit

RUN_AUDIT = "run_audit"
REQUEST_BACKOUT = "request_backout"


def register(app: App) -> None:
    """Register the custom steps' listeners (each acks at once; the work completes the step later)."""
    app.function(RUN_AUDIT)(run_audit)
    app.function(REQUEST_BACKOUT)(request_backout)
