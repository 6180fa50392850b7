"""A many-account audit's report: a line per account that is not clean, the accounts menu, one account's
findings on demand, and every finding as a file.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from workers.core.mrkdwn import code, escape
from workers.slack.messages.changes import changes_block
from workers.slack.messages.finding_lines import ORDER, covered_line, finding_block, shown_status
from workers.slack.messages.kit import (
    EMOJI,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_HEADER,
    MAX_OPTIONS,
    Block,
    chunks,
    clip,
    context,
    section,
    text_chunks,
)

ROLLUP_ACCOUNTS = 5  # beyond this many accounts, a report is a line per account that is not clean


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
        f"{EMOJI['FAIL' if by_account[a].get('FAIL') else 'ERROR']} {code(a)}"
        + (" not reached" if a in unreached else "")
        + f": {by_account[a].get('FAIL', 0)} failing, {by_account[a].get('ERROR', 0)} unverifiable"
        for a in dirty
    ]
    head = f"{verdict}: trail-audit of {len(by_account)} accounts"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, MAX_HEADER)}},
        context(f"{len(dirty)} accounts need attention · {clean} clean · {covered_line(doc)}"),
    ]
    lead = changes_block(doc.get("delta"))
    if lead:
        blocks.append(lead)
    chunks = text_chunks("\n".join(lines))
    room = MAX_BLOCKS - len(blocks) - 2  # the menu and the closing line
    if len(chunks) > room:
        chunks = [*chunks[: room - 1], f"… and {sum(c.count(chr(10)) + 1 for c in chunks[room - 1 :])} more accounts"]
    blocks.extend(section(chunk) for chunk in chunks)
    if doc.get("id") and dirty:
        blocks.append({"type": "actions", "block_id": "report_account", "elements": [account_menu(doc["id"], dirty)]})
    blocks.append(context(f":white_check_mark: {clean} accounts clean · details: `trail-audit audit --summary`"))
    text = f"{verdict}: {len(dirty)} of {len(by_account)} accounts need attention ({covered_line(doc)})"
    return {"text": text, "blocks": blocks}


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
    attention.sort(key=lambda item: (ORDER[item[1]["status"]], item[1]["check"], item[1]["region"]))
    shown = [section(f"*Account* {code(account)}: {len(attention)} findings need attention")]
    shown += [finding_block(f, fix_ids.get(i)) for i, f in attention]
    return [{"text": f"Findings of account {escape(account)}", "blocks": chunk} for chunk in chunks(shown)]
