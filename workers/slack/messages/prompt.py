"""Approvals: the reason modal, the approval prompt, the outcome of an executed request and its re-check.
"""

from __future__ import annotations

import json
from typing import Any

from workers.core.mrkdwn import code, escape, mention
from workers.slack.messages.kit import (
    EMOJI,
    MAX_HEADER,
    MAX_SECTION,
    Block,
    button,
    clip,
    confirm,
    context,
    section,
    time_text,
)


def reason_modal(subject: str, metadata: str, backout: bool = False) -> dict[str, Any]:
    """The dialog that asks a requester why (a fix from a report's button, or a command without a reason)."""
    return {
        "type": "modal",
        "callback_id": "request_reason",
        "private_metadata": metadata[:3000],
        "title": {"type": "plain_text", "text": "Request a backout" if backout else "Request a fix"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(clip(subject, MAX_SECTION)),
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason (shown to the approver)"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 500},
            },
        ],
    }


def prompt(req: dict[str, Any], state: str | None = None) -> dict[str, Any]:
    """The approval prompt: who, why, where, the exact API calls, the permissions, the expiry; Approve / Deny.

    With `state` (a decision or a result) the buttons give way to that line.
    """
    backout = req["action"].startswith("backout.")
    waiver = req["action"] == "waiver.accept"
    kind = "backout" if backout else "waiver" if waiver else "fix"
    status = {"backout active": "in force", "expired": "ended"}.get(req["status"], req["status"]) if waiver else None
    head = f"Approval needed: {req['action']}" if state is None else f"{req['action']}: {status or req['status']}"
    lines = [
        f"*Requested by* {mention(req['requester'])}: {escape(req['reason'])}",
        f"*Account* {escape(req['account'])} · *region* {escape(req['region'])} · *resource* {code(req['resource'])}",
    ]
    if backout and req.get("minutes"):
        if req.get("deadline"):
            lines.append(f"*Deadline* {time_text(req['deadline'])}: the exact prior configuration is restored then")
        else:
            lines.append(
                f"*Deadline* {req['minutes']:g} minutes after approval: the exact prior configuration is restored then"
            )
    if waiver:
        days = (req.get("minutes") or 0) / 1440
        until = f"until {time_text(req['deadline'])}" if req.get("deadline") else f"for {days:g} days after approval"
        lines.append(f"*Waiver* of {code(req.get('check') or '?')} {until}: the finding shows as WAIVED and does not "
                     "count; it is not fixed, and alerts are never waived")  # fmt: skip
    calls = (req.get("plan") or {}).get("calls", [])
    none = "_no call: a waiver changes nothing in AWS_" if waiver else "_no call: nothing to change_"
    plan = "\n".join(f"{i}. {code(_call_text(c))}" for i, c in enumerate(calls, 1)) or none
    out: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}},
        section("\n".join(lines)),
        section(f"*API calls*\n{plan}"),
        context(
            f"IAM permissions: {escape(', '.join(req.get('permissions', [])))} · request {code(req['id'])} · "
            f"expires {time_text(req['expires'])}"
        ),
    ]
    if state is None:
        approve = button("Approve", "approve", req["id"], style="primary")
        approve["confirm"] = confirm(
            f"Approve this {kind}?",
            (
                f"The finding will show as WAIVED in account {escape(req['account'])}; nothing in AWS changes."
                if waiver
                else f"trail-audit will make {len(calls)} API call(s) in account {escape(req['account'])}."
            )
            + (" Management events or Config recording will be OFF until the deadline." if backout else ""),
            "Approve",
        )
        deny = button("Deny", "deny", req["id"], style="danger")
        deny["confirm"] = confirm(f"Deny this {kind}?", "The request will be closed; nothing is changed.", "Deny")
        out.append({"type": "actions", "block_id": "decision", "elements": [approve, deny]})
    else:
        out.append(section(state))
    return {"text": clip(escape(f"{head} ({req['resource']})"), MAX_SECTION), "blocks": out}


def _call_text(c: dict[str, Any]) -> str:
    params = json.dumps(c["params"], sort_keys=True, separators=(",", ":"))
    return clip(f"{c['service']}:{c['operation']} {params} in {c['region']}", 700)


def outcome(req: dict[str, Any], results: list[dict[str, Any]], recheck: dict[str, Any] | None) -> dict[str, Any]:
    """The thread reply after an execution: each call's result, then the re-check of the finding."""
    lines = [
        f"{':white_check_mark:' if r['ok'] else ':x:'} {code(clip(r['call'], 300))}"
        + ("" if r["ok"] else f"\n    {escape(r['error'])}")
        for r in results
    ] or ["No call was needed."]
    if recheck is not None:
        lines.append(_recheck_line(recheck))
    text = f"*{escape(req['action'])}* {code(req['id'])}: {escape(req['status'])}\n" + "\n".join(lines)
    return {"text": clip(text, MAX_SECTION), "blocks": [section(text)]}


def recheck_result(request_id: str, finding: dict[str, Any] | None) -> dict[str, Any]:
    """The thread reply with a request's finding audited afresh (after its execution, or its restore)."""
    if finding is None:
        text = f"*Re-check* of {code(request_id)}: the finding was not found (the resource may be gone)."
    else:
        text = _recheck_line(finding)
    return {"text": clip(text, MAX_SECTION), "blocks": [section(text), context(f"request {code(request_id)}")]}


def _recheck_line(finding: dict[str, Any]) -> str:
    status = str(finding["status"])
    return f"*Re-check* {EMOJI.get(status, '')} {escape(status)}: {escape(finding['detail'])}"
