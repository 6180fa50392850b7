"""`/trail-audit status` and `/trail-audit log`.
"""

from __future__ import annotations

import time
from typing import Any

from workers.core.mrkdwn import code, escape, mention
from workers.slack.messages.answers import ephemeral
from workers.slack.messages.kit import MAX_SECTION, clip, time_text


def status(
    queued: int,
    workers: int,
    last: dict[str, Any] | None,
    pending: list[dict[str, Any]],
    active: list[dict[str, Any]] | None = None,
    monitor: list[str] | None = None,
) -> dict[str, Any]:
    """`/trail-audit status`: the queue, the workers, the last audit, pending requests, backouts in force."""
    if last:
        counts = escape(", ".join(f"{n} {s.lower()}" for s, n in sorted(last.get("counts", {}).items())))
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(last["finished"]))
        last_line = f"Last audit: {when} ({counts or 'no findings'})"
    else:
        last_line = "Last audit: none yet"
    lines = [f"Queue: {queued} waiting · workers: {workers}", last_line, f"Pending approvals: {len(pending)}"]
    lines += [
        f"• {code(p['id'])} {escape(p['action'])} on {code(p['resource'])} by {mention(p['requester'])}"
        for p in pending[:10]
    ]
    for title, mine in (("Active backouts", [a for a in active or [] if a["action"] != "waiver.accept"]),
                        ("Waivers in force", [a for a in active or [] if a["action"] == "waiver.accept"])):  # fmt: skip
        lines.append(f"{title}: {len(mine)}")
        lines += [
            f"• {code(a['id'])} {escape(a['action'])} on {code(a['resource'])} until {time_text(a['deadline'] or 0)}"
            for a in mine[:10]
        ]
    lines += monitor or []
    return ephemeral("\n".join(lines))


def log_entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """`/trail-audit log [n]`: the newest audit log entries, newest first."""
    if not entries:
        return ephemeral("The audit log is empty.")
    lines = []
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(e["at"])))
        actor = e.get("actor") or ""
        who = f" {mention(actor)}" if actor[:1] in ("U", "W") else (f" ({escape(actor)})" if actor else "")
        req = f" {code(e['request'])}" if e.get("request") else ""
        detail = " ".join(f"{escape(k)}={escape(v)}" for k, v in sorted(e.get("detail", {}).items()) if v is not None)
        lines.append(f"`{when}` *{escape(e['event'])}*{req}{who} {detail}".rstrip())
    return ephemeral(clip("\n".join(lines), MAX_SECTION))
