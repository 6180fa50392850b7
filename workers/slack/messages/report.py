"""An audit's report: the findings of one account (or a few), and the recent changes to trails and Config.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from workers.core.mrkdwn import code, escape
from workers.slack.messages.changes import changes_block, headline
from workers.slack.messages.finding_lines import ORDER, covered_line, finding_block, shown_status, waived_lines
from workers.slack.messages.kit import (
    EMOJI,
    MAX_BLOCKS,
    MAX_HEADER,
    Block,
    chunks,
    clip,
    context,
    section,
    text_chunks,
)
from workers.slack.messages.rollup import ROLLUP_ACCOUNTS, rollup


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
    tally = " · ".join(f"{EMOJI[s]} {counts.get(s, 0)} {s.lower()}" for s in ("FAIL", "ERROR", "PASS", "SKIPPED"))
    if counts.get("WAIVED"):
        tally += f" · {EMOJI['WAIVED']} {counts['WAIVED']} waived"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": head}},
        context(f"{tally}  ·  {len(regions)} regions  ·  {covered_line(doc)}"),
    ]
    lead = changes_block(doc.get("delta"))
    if lead:
        blocks.append(lead)
    attention = [(i, f) for i, f in enumerate(findings) if shown_status(f) in ("FAIL", "ERROR")]
    attention.sort(key=lambda item: (ORDER[item[1]["status"]], item[1]["check"], item[1]["region"]))
    finding_blocks = [finding_block(f, (fix_ids or {}).get(i)) for i, f in attention]
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
    if doc.get("delta"):
        text += f". {escape(headline(doc['delta']))}"
    thread = [{"text": f"More findings ({i + 1})", "blocks": chunk} for i, chunk in enumerate(chunks(rest))]
    return {"text": text, "blocks": blocks}, thread


def _folded(findings: list[dict[str, Any]]) -> str:
    by_check: dict[str, Counter[str]] = {}
    for f in findings:
        by_check.setdefault(f["check"], Counter())[f["status"]] += 1
    lines = []
    for check, counts in sorted(by_check.items()):
        if counts.get("FAIL") or counts.get("ERROR"):
            continue
        parts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items(), key=lambda x: ORDER[x[0]]))
        lines.append(f"{EMOJI['PASS'] if counts.get('PASS') else EMOJI['SKIPPED']} {escape(check)} ({parts})")
    return "\n".join(lines)


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
    blocks.extend(section(chunk) for chunk in text_chunks(body))
    if errors:
        blocks.append(section("\n".join(errors)))
    return {"text": head, "blocks": blocks[:MAX_BLOCKS]}
