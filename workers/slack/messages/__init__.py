"""Block Kit messages, built by pure functions from plain data: no Bolt, no network, tested directly.

Slack's limits are kept here, in one place: 50 blocks a message, 3000 characters a section's text,
75 characters a button's text, 2000 characters a button's value. What does not fit goes into the thread.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from workers.core.mrkdwn import alert_mention, code, escape, mention

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_BUTTON_TEXT = 75
MAX_HEADER = 150
Block = dict[str, Any]

_EMOJI = {
    "FAIL": ":red_circle:",
    "ERROR": ":warning:",
    "PASS": ":white_check_mark:",
    "SKIPPED": ":white_circle:",
    "WAIVED": ":shield:",
}
_ORDER = {"FAIL": 0, "ERROR": 1, "PASS": 2, "SKIPPED": 3}

USAGE = escape(
    "*Usage:* `/trail-audit [audit|events|remediate|backout|reenable|waive|status|log|help] ...`\n"
    "• `/trail-audit` or `/trail-audit audit [region ...]`: audit every enabled region, or those named\n"
    "• `/trail-audit events [hours]`: recent changes to CloudTrail and AWS Config (default 24 hours)\n"
    "• `/trail-audit remediate <check> <trail|region|account> [reason]`: request a fix (another person approves)\n"
    "• `/trail-audit backout <trail> [minutes] <reason>` or `backout recorder [region] [minutes] <reason>`: "
    "turn management events or Config recording off until a deadline, with approval\n"
    "• `/trail-audit reenable <request id>`: end a backout now (no approval needed)\n"
    "• `/trail-audit waive <check> <trail|region|account> <days> <reason>`: accept a finding for a while, with "
    "approval (it shows as WAIVED until then; alerts are never waivable)\n"
    "• `/trail-audit status`: queue, workers, last audit, pending approvals, active backouts, the monitor\n"
    "• `/trail-audit log [n]`: the newest entries of the audit log (default 20)\n"
    "• `/trail-audit help`: this message"
)


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


def usage(problem: str | None = None) -> dict[str, Any]:
    """The ephemeral usage message, with what was wrong first."""
    text = (f":grey_question: {problem}\n\n" if problem else "") + USAGE
    return {"response_type": "ephemeral", "text": text, "blocks": [section(text)]}


def ephemeral(text: str) -> dict[str, Any]:
    """A short ephemeral answer."""
    return {"response_type": "ephemeral", "text": text, "blocks": [section(text)]}


def progress(done: int, total: int, accounts: Iterable[str], unit: str = "regions") -> dict[str, Any]:
    """The report's first form: a header and how many regions (or, for an organization, accounts) are done."""
    names = list(accounts)
    if len(names) > ROLLUP_ACCOUNTS:
        who = f"{len(names)} accounts"
    else:
        who = ("accounts " if len(names) > 1 else "account ") + (escape(", ".join(names)) or "…")
    text = f":hourglass_flowing_sand: auditing {done}/{total} {unit} ({who})"
    return {"text": text, "blocks": [section(text)]}


def failed(reason: str, what: str = "audit") -> dict[str, Any]:
    """The message when a job could not finish: what failed and why, never silence."""
    text = f":x: The {escape(what)} failed: {escape(reason)}. Nothing was changed; run `/trail-audit` again."
    return {"text": text, "blocks": [section(text)]}


def report(doc: dict[str, Any], fix_ids: dict[int, str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The finished report (the audit's JSON document) as a message and the thread replies that follow it.

    Failing and unverifiable findings come first, each with its detail; a failing finding with a fix
    carries a "Request fix" button whose value is the opaque id in `fix_ids` (by finding index). Passing
    and skipped checks are folded into one line each. What does not fit in 50 blocks goes to the thread.
    """
    if len(doc.get("summary", {}).get("accounts", [])) > ROLLUP_ACCOUNTS:
        return rollup(doc), []
    findings = doc["findings"]
    counts = Counter(shown_status(f) for f in findings)
    verdict = next((s for s in ("FAIL", "ERROR", "PASS", "WAIVED") if counts.get(s)), "SKIPPED")
    names = ", ".join(doc.get("summary", {}).get("accounts", [])) or "?"
    accounts = escape(names)
    regions = doc.get("summary", {}).get("regions", [])
    head = clip(f"{verdict}: trail-audit of {names}", MAX_HEADER)  # plain text: shown as written
    tally = " · ".join(f"{_EMOJI[s]} {counts.get(s, 0)} {s.lower()}" for s in ("FAIL", "ERROR", "PASS", "SKIPPED"))
    if counts.get("WAIVED"):
        tally += f" · {_EMOJI['WAIVED']} {counts['WAIVED']} waived"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": head}},
        context(f"{tally}  ·  {len(regions)} regions  ·  {_covered(doc)}"),
    ]
    attention = [(i, f) for i, f in enumerate(findings) if shown_status(f) in ("FAIL", "ERROR")]
    attention.sort(key=lambda item: (_ORDER[item[1]["status"]], item[1]["check"], item[1]["region"]))
    finding_blocks = [_finding(f, (fix_ids or {}).get(i)) for i, f in attention]
    folded = _folded(findings)
    waived = waived_lines(findings)
    room = MAX_BLOCKS - len(blocks) - (1 if folded else 0) - (1 if waived else 0) - 1  # and "more in the thread"
    shown, rest = finding_blocks[:room], finding_blocks[room:]
    blocks.extend(shown)
    if waived:
        blocks.append(section(waived))
    if folded:
        blocks.append(section(folded))
    if rest:
        blocks.append(context(f"{len(rest)} more findings in the thread :thread:"))
    text = f"{verdict}: {counts.get('FAIL', 0)} failing, {counts.get('ERROR', 0)} unverifiable ({accounts})"
    thread = [{"text": f"More findings ({i + 1})", "blocks": chunk} for i, chunk in enumerate(_chunks(rest))]
    return {"text": text, "blocks": blocks}, thread


ROLLUP_ACCOUNTS = 5  # beyond this many accounts, a report is a line per account that is not clean


def shown_status(finding: dict[str, Any]) -> str:
    """A finding's status as reports count it: WAIVED while a waiver covers it (its `status` is kept)."""
    return "WAIVED" if finding.get("waived") else str(finding["status"])


def waived_lines(findings: list[dict[str, Any]]) -> str:
    """The waived findings, each with who, why and until when (one section, clipped)."""
    lines = [f"{_EMOJI['WAIVED']} {code(f['check'])} on {code(f['resource'])} ({escape(f['status'])}): waived by "
             f"{mention(f['waived']['by'])}, approved by {mention(f['waived']['approved_by'])}, until "
             f"{escape(f['waived']['until'])}: {escape(f['waived']['reason'])}"
             for f in findings if f.get("waived")]  # fmt: skip
    return clip("*Waived*\n" + "\n".join(lines), MAX_SECTION) if lines else ""


def rollup(doc: dict[str, Any]) -> dict[str, Any]:
    """The report of many accounts: a line per account that is not clean (its fail and error counts, worst
    first), one line for the clean ones; within Slack's limits for any number of accounts (the whole report
    is `trail-audit audit --format json`, or `--summary`)."""
    by_account: dict[str, Counter[str]] = {}
    for f in doc["findings"]:
        by_account.setdefault(f["account"], Counter())[shown_status(f)] += 1
    unreached = set(doc.get("summary", {}).get("unreachable", []))
    dirty = sorted((a for a, c in by_account.items() if c.get("FAIL") or c.get("ERROR")),
                   key=lambda a: (-by_account[a].get("FAIL", 0), -by_account[a].get("ERROR", 0), a))  # fmt: skip
    clean = len(by_account) - len(dirty)
    counts = Counter(shown_status(f) for f in doc["findings"])
    verdict = next((s for s in ("FAIL", "ERROR", "PASS", "WAIVED") if counts.get(s)), "SKIPPED")
    lines = [
        f"{_EMOJI['FAIL' if by_account[a].get('FAIL') else 'ERROR']} {code(a)}"
        + (" not reached" if a in unreached else "")
        + f": {by_account[a].get('FAIL', 0)} failing, {by_account[a].get('ERROR', 0)} unverifiable"
        for a in dirty
    ]
    head = f"{verdict}: trail-audit of {len(by_account)} accounts"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}},
        context(f"{len(dirty)} accounts need attention · {clean} clean · {_covered(doc)}"),
    ]
    chunks = _text_chunks("\n".join(lines))
    room = MAX_BLOCKS - len(blocks) - 2  # the menu and the closing line
    if len(chunks) > room:
        chunks = [*chunks[: room - 1], f"… and {sum(c.count(chr(10)) + 1 for c in chunks[room - 1 :])} more accounts"]
    blocks.extend(section(chunk) for chunk in chunks)
    if doc.get("id") and dirty:
        blocks.append({"type": "actions", "block_id": "report_account", "elements": [account_menu(doc["id"], dirty)]})
    blocks.append(context(f":white_check_mark: {clean} accounts clean · details: `trail-audit audit --summary`"))
    text = f"{verdict}: {len(dirty)} of {len(by_account)} accounts need attention ({_covered(doc)})"
    return {"text": text, "blocks": blocks}


MAX_OPTIONS = 100  # a select menu's options
FILE_FIELDS = ("check", "status", "account", "region", "resource", "detail", "remediation")


def report_file(doc: dict[str, Any], kind: str) -> tuple[str, str]:
    """A report's findings as a file: (name, content), JSON (the whole document) or CSV (a row a finding)."""
    name = f"trail-audit-{doc.get('id') or 'report'}.{kind}"
    if kind == "json":
        return name, json.dumps(doc, indent=1, default=str)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FILE_FIELDS)
    writer.writerows([f.get(k) or "" for k in FILE_FIELDS] for f in doc["findings"])
    return name, out.getvalue()


def account_menu(audit_id: str, accounts: list[str]) -> dict[str, Any]:
    """A menu of the accounts that need attention (the worst first): choosing one posts its findings in the
    report's thread. Each option's value is the audit's id and the account's, nothing more."""
    return {
        "type": "static_select",
        "action_id": "report_account",
        "placeholder": {"type": "plain_text", "text": "Details of an account…"},
        "options": [
            {"text": {"type": "plain_text", "text": clip(a, MAX_BUTTON_TEXT)}, "value": f"{audit_id}:{a}"[:150]}
            for a in accounts[:MAX_OPTIONS]
        ],
    }


def account_details(doc: dict[str, Any], account: str, fix_ids: dict[int, str]) -> list[dict[str, Any]]:
    """One account's findings from a report, as thread replies (failing and unverifiable first, each fix with
    its button), within Slack's limits."""
    findings = [f for f in doc["findings"] if f["account"] == account]
    attention = [(i, f) for i, f in enumerate(findings) if f["status"] in ("FAIL", "ERROR")]
    attention.sort(key=lambda item: (_ORDER[item[1]["status"]], item[1]["check"], item[1]["region"]))
    shown = [section(f"*Account* {code(account)}: {len(attention)} findings need attention")]
    shown += [_finding(f, fix_ids.get(i)) for i, f in attention]
    return [{"text": f"Findings of account {escape(account)}", "blocks": chunk} for chunk in _chunks(shown)]


def _covered(doc: dict[str, Any]) -> str:
    """`N of M accounts covered`, naming those not reached."""
    summary = doc.get("summary", {})
    total, unreached = len(summary.get("accounts", [])), summary.get("unreachable", [])
    text = f"{total - len(unreached)} of {total} account{'' if total == 1 else 's'} covered"
    return text + (f" (not reached: {escape(', '.join(unreached[:5]))})" if unreached else "")


def _finding(f: dict[str, Any], fix_id: str | None) -> Block:
    where = escape(f"{f['account']} · {f['region']}")
    resource = f["resource"].rsplit("/", 1)[-1] if ":trail/" in f["resource"] else f["resource"]
    text = f"{_EMOJI.get(f['status'], '')} *{escape(f['check'])}* — {code(resource)} ({where})\n{escape(f['detail'])}"
    block = section(text)
    if fix_id and f.get("remediation"):
        block["accessory"] = button("Request fix", "request_fix", fix_id, style="primary")
    return block


def _folded(findings: list[dict[str, Any]]) -> str:
    by_check: dict[str, Counter[str]] = {}
    for f in findings:
        by_check.setdefault(f["check"], Counter())[f["status"]] += 1
    lines = []
    for check, counts in sorted(by_check.items()):
        if counts.get("FAIL") or counts.get("ERROR"):
            continue
        parts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items(), key=lambda x: _ORDER[x[0]]))
        lines.append(f"{_EMOJI['PASS'] if counts.get('PASS') else _EMOJI['SKIPPED']} {escape(check)} ({parts})")
    return "\n".join(lines)


def _chunks(blocks: list[Block]) -> list[list[Block]]:
    return [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]


def events(doc: dict[str, Any], limit: int = 40) -> dict[str, Any]:
    """Recent changes: who, what, where, failed attempts marked."""
    items = doc.get("events", [])
    lines = []
    for e in items[:limit]:
        failed_mark = f" :no_entry: failed ({escape(e['error_code'])})" if e.get("failed") else ""
        lines.append(
            f"{code(e['time'])} *{escape(e['name'])}*{failed_mark} in {escape(e['account'])}/{escape(e['region'])} "
            f"by {code(e['actor'])} from {escape(e['source_ip'])}"
        )
    errors = [
        f":warning: {escape(x['account'])}/{escape(x['region'])}: {escape(x['detail'])}" for x in doc.get("errors", [])
    ]
    head = f"Changes to CloudTrail and AWS Config in the last {escape(doc.get('hours', '?'))}h: {len(items)}"
    blocks: list[Block] = [section(f"*{head}*")]
    body = "\n".join(lines) or "No watched change was found."
    blocks.extend(section(chunk) for chunk in _text_chunks(body))
    if errors:
        blocks.append(section("\n".join(errors)))
    return {"text": head, "blocks": blocks[:MAX_BLOCKS]}


def _text_chunks(text: str) -> list[str]:
    out, current = [], ""
    for line in text.splitlines():
        if len(current) + len(line) + 1 > MAX_SECTION:
            out.append(current)
            current = ""
        current += ("\n" if current else "") + line
    return [*out, current] if current else out


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
            f"• {code(a['id'])} {escape(a['action'])} on {code(a['resource'])} until {_when(a['deadline'] or 0)}"
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


# --- approvals ---------------------------------------------------------------------------------------------


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def _confirm(title: str, text: str, yes: str) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": clip(title, 100)},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": clip(yes, 30)},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }


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
            lines.append(f"*Deadline* {_when(req['deadline'])}: the exact prior configuration is restored then")
        else:
            lines.append(
                f"*Deadline* {req['minutes']:g} minutes after approval: the exact prior configuration is restored then"
            )
    if waiver:
        days = (req.get("minutes") or 0) / 1440
        until = f"until {_when(req['deadline'])}" if req.get("deadline") else f"for {days:g} days after approval"
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
            f"expires {_when(req['expires'])}"
        ),
    ]
    if state is None:
        approve = button("Approve", "approve", req["id"], style="primary")
        approve["confirm"] = _confirm(
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
        deny["confirm"] = _confirm(f"Deny this {kind}?", "The request will be closed; nothing is changed.", "Deny")
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


def recheck(request_id: str, finding: dict[str, Any] | None) -> dict[str, Any]:
    """The thread reply with a request's finding audited afresh (after its execution, or its restore)."""
    if finding is None:
        text = f"*Re-check* of {code(request_id)}: the finding was not found (the resource may be gone)."
    else:
        text = _recheck_line(finding)
    return {"text": clip(text, MAX_SECTION), "blocks": [section(text), context(f"request {code(request_id)}")]}


def _recheck_line(finding: dict[str, Any]) -> str:
    status = str(finding["status"])
    return f"*Re-check* {_EMOJI.get(status, '')} {escape(status)}: {escape(finding['detail'])}"


# --- tamper alerts -----------------------------------------------------------------------------------------


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict | list):
        return clip(json.dumps(v, sort_keys=True, separators=(",", ":")), 400)
    return "none" if v is None else clip(str(v), 400)


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
        f"*Before* {code(_value(doc['before']))}\n*After* {code(_value(doc['after']))}"
        if doc["field"] not in ("attempt", "event")
        else "",
        doc.get("story", ""),  # written by the monitor with the same helpers (workers/monitor/tampering.py)
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
        context(f"detected {_when(doc['created'])} · alert {code(doc['id'])}"
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
    head = f"{len(docs)} changes to CloudTrail and AWS Config" + (
        f", {len(unapproved)} UNAPPROVED" if unapproved else ""
    )
    out: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}},
        context(f"account {escape(first['account'])} · {escape(first['region'])} · detected {_when(first['created'])}"),
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
            "" if d["field"] in ("attempt", "event") else f" {code(_value(d['before']))} → {code(_value(d['after']))}"
        )
        unknown = " · who: unknown, LookupEvents failed" if not who and d.get("lookup_error") else ""
        by = f" by {code(who)}" if who else unknown
        rows.append((d, f"{mark} {escape(d['title'])}{change}{by} · {code(d['id'])}"))
    with_button = [(d, line) for d, line in rows if d.get("restorable") and d.get("status") in ("open", "acknowledged")]
    room = MAX_BLOCKS - len(out) - 1  # one for the buttons
    shown: set[str] = set()
    for n in range(min(MAX_GROUP_BUTTONS, len(with_button)), -1, -1):  # as many own buttons as leave room
        shown = {d["id"] for d, _ in with_button[:n]}
        chunks = _text_chunks("\n".join(line for d, line in rows if d["id"] not in shown))
        if n + len(chunks) <= room:
            break
    for d, line in rows:
        if d["id"] in shown:
            block = section(line)
            block["accessory"] = button("Restore", "restore", d["id"])
            out.append(block)
    chunks = _text_chunks("\n".join(line for d, line in rows if d["id"] not in shown))
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
        "it exists" if doc["field"] == "present" else f"{code(doc['field'])} is back to {code(_value(doc['before']))}"
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
