"""What changed since the previous audit of the same scope (`workers.audit.delta`): the one-line headline, and
the block a report leads with."""

from __future__ import annotations

import datetime as dt
from typing import Any

from workers.core.mrkdwn import code, escape
from workers.slack.messages.kit import EMOJI, Block, clip, section

SHOWN = 8  # new and resolved findings listed each; the rest are counted


def changes_block(delta: dict[str, Any] | None) -> Block | None:
    """The new failing findings (FAIL before ERROR), then the resolved ones, under a one-line headline; "no
    change since <time>" when nothing changed. None without a delta (an audit made before deltas)."""
    if not delta:
        return None
    lines = [f"*Changes* {escape(headline(delta))}"]
    for kind in ("new", "resolved"):
        entries = delta.get(kind) or []
        for e in entries[:SHOWN]:
            mark = EMOJI.get(e["status"], EMOJI["FAIL"]) if kind == "new" else EMOJI["PASS"]
            word = "new" if kind == "new" else "resolved"
            lines.append(f"{mark} {word} {code(e['check'])} {escape(e['account'])} · {escape(e['region'])} · "
                         f"{code(clip(str(e['resource']), 120))}")  # fmt: skip
        if len(entries) > SHOWN:
            lines.append(f"… and {len(entries) - SHOWN} more {word}")
    return section(clip("\n".join(lines), 2900))


def headline(delta: dict[str, Any]) -> str:
    """One line: what changed since the previous audit, or that nothing did (plain text; callers escape it)."""
    if delta.get("first"):
        return "First audit of this scope: nothing to compare with yet."
    c = delta["counts"]
    if not delta["changed"]:
        still = f"; {c['still_failing']} still failing" if c["still_failing"] else ""
        return f"No change since {_when(delta['since'])}{still}."
    parts = [f"{c['new']} new failing", f"{c['resolved']} resolved"]
    if c["still_failing"]:
        parts.append(f"{c['still_failing']} still failing")
    return f"Since {_when(delta['since'])}: " + ", ".join(parts) + "."


def _when(iso: str | None) -> str:
    """An audit's ISO start time as `2026-12-01 09:00 UTC` (as given when it is not ISO)."""
    try:
        return dt.datetime.fromisoformat(str(iso)).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(iso)

