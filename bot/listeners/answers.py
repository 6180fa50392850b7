"""Answers only the person who clicked sees (through the interaction's response_url)."""

from __future__ import annotations

from slack_bolt import Respond

UNREACHABLE = ":x: trail-audit cannot reach its state (Redis); nothing was done. Try again in a minute."


def only_to_clicker(respond: Respond, text: str) -> None:
    """An ephemeral answer that leaves the clicked message as it is."""
    respond(text=text, response_type="ephemeral", replace_original=False)
