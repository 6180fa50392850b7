"""Block Kit's pieces and Slack's limits, in one place: 50 blocks a message, 3000 characters a section's
text, 75 characters a button's text, 150 a header's, 100 options a menu. What does not fit goes into the thread.
"""

from __future__ import annotations

import time
from typing import Any

MAX_BLOCKS = 50


MAX_SECTION = 3000


MAX_BUTTON_TEXT = 75


MAX_HEADER = 150


Block = dict[str, Any]


EMOJI = {
    "FAIL": ":red_circle:",
    "ERROR": ":warning:",
    "PASS": ":white_check_mark:",
    "SKIPPED": ":white_circle:",
    "WAIVED": ":shield:",
}


def clip(text: str, limit: int) -> str:
    """Text cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> Block:
    """A mrkdwn section within the 3000-character limit (text from outside: through `escape` or `code`)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION), "verbatim": True}}


def context(text: str) -> Block:
    """A small grey line."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION), "verbatim": True}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    """A button; its value is an opaque id, never state."""
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT)},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        b["style"] = style
    return b


MAX_OPTIONS = 100  # a select menu's options


def chunks(blocks: list[Block]) -> list[list[Block]]:
    """Blocks cut into messages of at most `MAX_BLOCKS` each."""
    return [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]


def text_chunks(text: str) -> list[str]:
    """Text cut at line ends into pieces that each fit a section."""
    out, current = [], ""
    for line in text.splitlines():
        if len(current) + len(line) + 1 > MAX_SECTION:
            out.append(current)
            current = ""
        current += ("\n" if current else "") + line
    return [*out, current] if current else out


def time_text(at: float) -> str:
    """An epoch time as UTC text: `2026-12-01 10:00 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def confirm(title: str, text: str, yes: str) -> dict[str, Any]:
    """A confirmation dialog for a button (a backout asks before it turns anything off)."""
    return {
        "title": {"type": "plain_text", "text": clip(title, 100)},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": clip(yes, 30)},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
