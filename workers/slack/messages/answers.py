"""Short answers: the usage message, an ephemeral line, an audit's progress, a failed job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workers.core.mrkdwn import escape
from workers.slack.messages.kit import section
from workers.slack.messages.rollup import ROLLUP_ACCOUNTS

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
