"""The demo's terminal transcript: each Slack message as it would read in the channel, with a Block Kit
Builder link that draws it as Slack would. Pure functions of the recorded calls."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any
from urllib.parse import quote

BUILDER = "https://app.slack.com/block-kit-builder/#"
_EMOJI = {
    ":red_circle:": "✗", ":warning:": "!", ":white_check_mark:": "✓", ":white_circle:": "·", ":x:": "✗",
    ":hourglass_flowing_sand:": "…", ":mag:": "?", ":grey_question:": "?", ":thread:": "", ":no_entry:": "⊘",
    ":gear:": "⚙", ":double_vertical_bar:": "⏸", ":alarm_clock:": "⏰", ":no_entry_sign:": "⊘",
    ":arrows_counterclockwise:": "↻", ":hourglass:": "⌛", ":shield:": "⛨", ":inbox_tray:": "⇩",
}  # fmt: skip


def builder_link(blocks: list[dict[str, Any]], surface: str | None = None) -> str:
    """A Block Kit Builder URL showing these blocks (as a message, or as `surface`: "home" for an App Home)."""
    doc: dict[str, Any] = {"type": surface, "blocks": blocks} if surface else {"blocks": blocks}
    return BUILDER + quote(json.dumps(doc, separators=(",", ":")), safe="")


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as terminal text: emoji codes as symbols, `*bold*` and backticks dropped."""
    text = re.sub(r":[a-z_]+:", lambda m: _EMOJI.get(m.group(0), m.group(0)), mrkdwn)
    return re.sub(r"(?<![\w*])\*([^*\n]+)\*", r"\1", text).replace("`", "")


def render(blocks: list[dict[str, Any]], width: int = 100) -> list[str]:
    """The lines a message's blocks read as."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(block["text"]["text"].upper())
        elif kind == "section":
            for line in plain(block["text"]["text"]).splitlines():
                lines.extend(textwrap.wrap(line, width, subsequent_indent="    ") or [""])
            if block.get("accessory", {}).get("type") == "button":
                lines.append(f"    [ {block['accessory']['text']['text']} ]")
        elif kind == "context":
            lines.extend(plain(e.get("text", "")) for e in block["elements"])
        elif kind == "actions":
            lines.append("  ".join(f"[ {e['text']['text']} ]" for e in block["elements"] if e.get("text")))
    return lines


def message(who: str, verb: str, blocks: list[dict[str, Any]], fallback: str = "") -> str:
    """One transcript entry: who did what, the message's lines, and its Builder link."""
    body = render(blocks) if blocks else [plain(fallback)]
    link = builder_link(blocks) if blocks else ""
    out = [f"── {who} {verb}", *("   │ " + line for line in body)]
    if link:
        out.append(f"   └ as Slack draws it: {link}")
    return "\n".join(out)
