"""The App Home tab (`views.publish`): posture, open alerts, pending approvals, active backouts and waivers,
the monitor's and the event path's health. Pure: built from a plain state dict (`workers.app_home.gather`),
within Slack's 100 blocks for a Home view whatever the number of accounts, alerts or requests."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from workers.core.mrkdwn import code, escape, mention
from workers.slack.messages.kit import MAX_HEADER, MAX_SECTION, clip, context, section

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home tab view
LISTED = 10  # items listed per part (the rest counted)
ACCOUNTS_LISTED = 20


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def _part(title: str, lines: list[str], empty: str, listed: int = LISTED) -> list[dict[str, Any]]:
    shown = lines[:listed]
    text = f"*{title}*\n" + ("\n".join(shown) if shown else f"_{empty}_")
    if len(lines) > listed:
        text += f"\n… and {len(lines) - listed} more"
    return [section(clip(text, MAX_SECTION))]


def posture(report: dict[str, Any] | None) -> list[str]:
    """One line per account that is not clean (the worst first), then the clean ones counted."""
    if not report:
        return []
    by_account: dict[str, Counter[str]] = {}
    for f in report.get("findings", []):
        status = "WAIVED" if f.get("waived") else f["status"]
        by_account.setdefault(f["account"], Counter())[status] += 1
    dirty = sorted((a for a, c in by_account.items() if c.get("FAIL") or c.get("ERROR")),
                   key=lambda a: (-by_account[a].get("FAIL", 0), -by_account[a].get("ERROR", 0), a))  # fmt: skip
    lines = [f":red_circle: {code(a)}: {by_account[a].get('FAIL', 0)} failing, {by_account[a].get('ERROR', 0)} "
             f"unverifiable" + (f", {by_account[a]['WAIVED']} waived" if by_account[a].get("WAIVED") else "")
             for a in dirty]  # fmt: skip
    clean = len(by_account) - len(dirty)
    if len(lines) > ACCOUNTS_LISTED:
        lines = [*lines[:ACCOUNTS_LISTED], f"… and {len(lines) - ACCOUNTS_LISTED} more accounts that need attention"]
    return [*lines, f":white_check_mark: {clean} account{'' if clean == 1 else 's'} clean"]


def trend_line(trend: list[dict[str, Any]], shown: int = 10) -> str:
    """Failing findings (FAIL and ERROR) over the last audits, oldest first, and the newest audit's changes."""
    last = trend[-shown:]
    failing = [int((t.get("counts") or {}).get("FAIL", 0)) + int((t.get("counts") or {}).get("ERROR", 0))
               for t in last]  # fmt: skip
    changes = trend[-1].get("changes") or {}
    told = f" · last audit: {changes.get('new', 0)} new, {changes.get('resolved', 0)} resolved" if changes else ""
    return f"Trend, failing findings over the last {len(last)} audits: {' → '.join(map(str, failing))}{told}"


def home(state: dict[str, Any]) -> dict[str, Any]:
    """The Home view from `state`: `last_audit` ({id, finished, counts}), `report` (its document), `alerts`,
    `pending`, `active` (requests as dicts), `waivers`, `monitor` (status lines), `event_path` (notices), `trend`
    (the last audits' counts, oldest first)."""
    last = state.get("last_audit")
    head = f"Last audit {_when(last['finished'])}" if last else "No audit yet: type `/trail-audit`"
    counts = (last or {}).get("counts") or {}
    tally = " · ".join(f"{counts.get(s, 0)} {s.lower()}" for s in ("FAIL", "ERROR", "PASS", "SKIPPED", "WAIVED")
                       if s != "WAIVED" or counts.get(s)) if last else ""  # fmt: skip
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip("trail-audit", MAX_HEADER)}},
        context(f"{escape(head)}{' · ' + tally if tally else ''} · updated {_when(state.get('now', time.time()))}"),
        {"type": "divider"},
    ]
    blocks += _part("Posture", posture(state.get("report")), "no audit report yet", listed=ACCOUNTS_LISTED + 2)
    if len(state.get("trend") or []) > 1:
        blocks.append(context(trend_line(state["trend"])))
    alerts = [f":rotating_light: {escape(a['title'])} ({escape(a['account'])} {escape(a['region'])}, "
              f"{escape(a['status'])}{', acknowledged by ' + mention(a['acked_by']) if a.get('acked_by') else ''})"
              for a in state.get("alerts", [])]  # fmt: skip
    blocks += _part("Open alerts", alerts, "none")
    pending = [f":hourglass: {code(r['id'])} {escape(r['action'])} on {code(r['resource'])} by "
               f"{mention(r['requester'])}, expires {_when(r['expires'])}"
               for r in state.get("pending", [])]  # fmt: skip
    blocks += _part("Pending approvals", pending, "none")
    backouts = [f":double_vertical_bar: {code(r['id'])} {escape(r['action'])} on {code(r['resource'])} until "
                f"{_when(r['deadline'])}" for r in state.get("active", [])
                if r["action"].startswith("backout.") and r.get("deadline")]  # fmt: skip
    blocks += _part("Active backouts", backouts, "none")
    waivers = [f":shield: {code(w['check'])} on {code(w['resource'])} until {escape(w['until_iso'])}: "
               f"{escape(w['reason'])} (by {mention(w['requester'])}, approved by {mention(w['approver'])})"
               for w in state.get("waivers", [])]  # fmt: skip
    blocks += _part("Waivers", waivers, "none")
    health = [escape(line) for line in state.get("monitor", [])] + [escape(n) for n in state.get("event_path", [])]
    blocks += _part("Monitor and event path", health, "no monitor cycle yet", listed=LISTED * 2)
    blocks.append(context("`/trail-audit help` lists the commands · this tab is redrawn after each audit and alert"))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
