"""Tamper alerts: one change, a rolled-up group, a recovery, a reminder.
"""

from __future__ import annotations

import json
from typing import Any

from workers.core.mrkdwn import alert_mention, code, escape, mention
from workers.slack.messages.kit import (
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_SECTION,
    Block,
    button,
    clip,
    context,
    section,
    text_chunks,
    time_text,
)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict | list):
        return clip(json.dumps(v, sort_keys=True, separators=(",", ":")), 400)
    return "none" if v is None else clip(str(v), 400)


def _shown(doc: dict[str, Any], side: str) -> str:
    """An alert's value before or after, in the words its field chose (`before_text`), else as `_value` says."""
    return str(doc.get(f"{side}_text") or _value(doc[side]))


def _guardduty(doc: dict[str, Any]) -> str:
    """The line a GuardDuty finding about the same call adds to an alert trail-audit raised."""
    found = doc.get("guardduty")
    if not found or doc.get("kind") == "guardduty":
        return ""
    return (f":shield: *GuardDuty agrees* {code(str(found.get('type')))} (severity {found.get('severity')}), "
            f"finding {code(str(found.get('id')))}")


def _who(doc: dict[str, Any]) -> str:
    who = doc.get("attribution")
    if who:
        failed = f" — *failed*: {escape(who['error_code'])}" if who.get("error_code") else ""
        params = clip(json.dumps(who.get("parameters") or {}, sort_keys=True), 300)
        return (f"*Who* {code(who['actor'])} ({escape(who['actor_type'])}) at {escape(who['time'])} "
                f"from {escape(who['source_ip'])}{failed}\n*User agent* {code(clip(who['user_agent'], 120))}\n"
                f"*Call* {escape(who['name'])} {code(params)}")  # fmt: skip
    if doc.get("lookup_error"):
        return f"*Who* unknown: {escape(doc['lookup_error'])}"
    return "*Who* not yet in CloudTrail's event history (it can take 15 minutes); this alert is updated when it is."


def alert(doc: dict[str, Any]) -> dict[str, Any]:
    """A tamper alert: what changed (before and after), who, when, where, approved or not; Restore, Acknowledge."""
    approved = doc.get("approved")
    if doc["field"] == "attempt":  # the header is plain text: shown as written
        emoji, head = ":warning:", f"Failed attempt: {doc['title']}"
    elif doc["field"] == "event" and approved:
        emoji, head = ":information_source:", f"Approved change: {doc['title']}"
    elif doc["field"] == "event":
        emoji, head = ":rotating_light:", f"UNAPPROVED change: {doc['title']}"
    elif approved:
        emoji, head = ":information_source:", f"Approved change: {doc['title']}"
    else:
        emoji, head = ":rotating_light:", f"UNAPPROVED change: {doc['title']}"
    lines = [
        f"*Where* account {escape(doc['account'])} · {escape(doc['region'])} · {code(doc['resource'])}",
        f"*Before* {code(_shown(doc, 'before'))}\n"
        f"*After* {code(_shown(doc, 'after'))}"
        if doc["field"] not in ("attempt", "event")
        else "",
        doc.get("story", ""),  # written by the monitor with the same helpers (workers/monitor/tampering.py)
        _guardduty(doc),
        f":warning: {escape(doc['truncated'])}" if doc.get("truncated") else "",
        _who(doc),
    ]
    if approved:
        lines.append(
            f"*Explained by* trail-audit request {code(approved['request'])} ({escape(approved['action'])}) "
            f"requested by {mention(approved['requester'])}, approved by {mention(approved.get('approver') or '?')}"
        )
    out: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}},
        section("\n".join(line for line in lines if line)),
        context(f"detected {time_text(doc['created'])} · alert {code(doc['id'])}"
                + (f" · acknowledged by {mention(doc['acked_by'])}" if doc.get("acked_by") else "")
                + (" · recovered" if doc.get("status") == "recovered" else "")),
    ]  # fmt: skip
    buttons = []
    if doc.get("restorable") and doc.get("status") in ("open", "acknowledged"):
        buttons.append(button("Restore", "restore", doc["id"], style="primary"))
    if not doc.get("acked_by") and doc.get("status") == "open":
        buttons.append(button("Acknowledge", "ack_alert", doc["id"]))
    if buttons:
        out.append({"type": "actions", "block_id": "alert", "elements": buttons})
    call = f"{alert_mention(doc.get('mention'))} " if alert_mention(doc.get("mention")) and not approved else ""
    return {
        "text": clip(f"{call}{emoji} {escape(head)} ({escape(doc['account'])} {escape(doc['region'])})", MAX_SECTION),
        "blocks": out,
    }


MAX_GROUP_BUTTONS = 40  # rows with their own Restore button in a rolled-up alert (the rest: "Restore all")


def alert_group(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The alerts one cycle found in one account and region, as one message: a single alert as itself; many
    as a list, each row with its own Restore (the first 40), and Restore all / Acknowledge all."""
    if len(docs) == 1:
        return alert(docs[0])
    first = docs[0]
    unapproved = [d for d in docs if not d.get("approved") and d["field"] != "attempt"]
    emoji = ":rotating_light:" if unapproved else ":information_source:"
    head = f"{len(docs)} changes to CloudTrail, AWS Config and what they rely on" + (
        f", {len(unapproved)} UNAPPROVED" if unapproved else ""
    )
    out: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}},
        context(f"account {escape(first['account'])} · {escape(first['region'])} · "
                f"detected {time_text(first['created'])}"),
    ]
    rows = []
    for d in docs:
        mark = (
            ":white_check_mark:"
            if d.get("status") == "recovered"
            else (":information_source:" if d.get("approved") else ":red_circle:")
        )
        who = (d.get("attribution") or {}).get("actor")
        change = (
            "" if d["field"] in ("attempt", "event") else f" {code(_shown(d, 'before'))} → {code(_shown(d, 'after'))}"
        )
        unknown = " · who: unknown, LookupEvents failed" if not who and d.get("lookup_error") else ""
        by = f" by {code(who)}" if who else unknown
        rows.append((d, f"{mark} {escape(d['title'])}{change}{by} · {code(d['id'])}"))
    with_button = [(d, line) for d, line in rows if d.get("restorable") and d.get("status") in ("open", "acknowledged")]
    room = MAX_BLOCKS - len(out) - 1  # one for the buttons
    shown: set[str] = set()
    for n in range(min(MAX_GROUP_BUTTONS, len(with_button)), -1, -1):  # as many own buttons as leave room
        shown = {d["id"] for d, _ in with_button[:n]}
        chunks = text_chunks("\n".join(line for d, line in rows if d["id"] not in shown))
        if n + len(chunks) <= room:
            break
    for d, line in rows:
        if d["id"] in shown:
            block = section(line)
            block["accessory"] = button("Restore", "restore", d["id"])
            out.append(block)
    chunks = text_chunks("\n".join(line for d, line in rows if d["id"] not in shown))
    left = room - len(shown)
    if len(chunks) > left:  # more than one message holds: the rest is counted, and listed by `status`
        chunks = [*chunks[: left - 1], f"… and {sum(c.count(chr(10)) + 1 for c in chunks[left - 1 :])} more changes"]
    out.extend(section(chunk) for chunk in chunks)
    buttons = []
    if with_button:
        buttons.append(button("Restore all", "restore_all", first["group"], style="primary"))
    if any(d.get("status") == "open" for d in docs):
        buttons.append(button("Acknowledge all", "ack_group", first["group"]))
    if buttons:
        out.append({"type": "actions", "block_id": "alert_group", "elements": buttons})
    called = alert_mention(first.get("mention")) if any(d.get("mention") for d in unapproved) else ""
    where = f"({escape(first['account'])} {escape(first['region'])})"
    return {"text": clip(f"{called + ' ' if called else ''}{emoji} {head} {where}", MAX_SECTION), "blocks": out}


def recovery(doc: dict[str, Any], by: str) -> dict[str, Any]:
    """The thread reply when an alerted field is back to its last known good value."""
    what = (
        "it exists" if doc["field"] == "present"
        else f"{code(doc['field'])} is back to {code(_shown(doc, 'before'))}"
    )
    text = f":white_check_mark: Recovered: {what}; {by}."
    return {"text": clip(text, MAX_SECTION), "blocks": [section(text)]}


def repost(doc: dict[str, Any], minutes: float, call: str | None) -> dict[str, Any]:
    """An unacknowledged alert, posted again (with `call`, the alert mention setting, when it is valid)."""
    who = f"{alert_mention(call)} " if alert_mention(call) else ""
    where = f"account {escape(doc['account'])}, {escape(doc['region'])}"
    text = (f"{who}:rotating_light: Still unacknowledged after {minutes:g} minutes: {escape(doc['title'])} "
            f"({where}) — alert {code(doc['id'])}, see its thread.")  # fmt: skip
    return {"text": clip(text, MAX_SECTION), "blocks": [section(text)]}
