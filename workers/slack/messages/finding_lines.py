"""How one finding shows in a message: its line with its fix button, its shown status (WAIVED), and the
coverage line; shared by the report and the rollup."""

from __future__ import annotations

from typing import Any

from workers.core.mrkdwn import code, escape, mention
from workers.slack.messages.kit import EMOJI, MAX_SECTION, Block, button, clip, section

ORDER = {"FAIL": 0, "ERROR": 1, "PASS": 2, "SKIPPED": 3}


def shown_status(finding: dict[str, Any]) -> str:
    """A finding's status as reports count it: WAIVED while a waiver covers it (its `status` is kept)."""
    return "WAIVED" if finding.get("waived") else str(finding["status"])


def waived_lines(findings: list[dict[str, Any]]) -> str:
    """The waived findings, each with who, why and until when (one section, clipped)."""
    lines = [f"{EMOJI['WAIVED']} {code(f['check'])} on {code(f['resource'])} ({escape(f['status'])}): waived by "
             f"{mention(f['waived']['by'])}, approved by {mention(f['waived']['approved_by'])}, until "
             f"{escape(f['waived']['until'])}: {escape(f['waived']['reason'])}"
             for f in findings if f.get("waived")]  # fmt: skip
    return clip("*Waived*\n" + "\n".join(lines), MAX_SECTION) if lines else ""


def covered_line(doc: dict[str, Any]) -> str:
    """How much of the audit was covered, as one line."""
    """`N of M accounts covered`, naming those not reached."""
    summary = doc.get("summary", {})
    total, unreached = len(summary.get("accounts", [])), summary.get("unreachable", [])
    text = f"{total - len(unreached)} of {total} account{'' if total == 1 else 's'} covered"
    return text + (f" (not reached: {escape(', '.join(unreached[:5]))})" if unreached else "")


def finding_block(f: dict[str, Any], fix_id: str | None) -> Block:
    """One finding as a section, with its fix button when it has one."""
    where = escape(f"{f['account']} · {f['region']}")
    resource = f["resource"].rsplit("/", 1)[-1] if ":trail/" in f["resource"] else f["resource"]
    text = f"{EMOJI.get(f['status'], '')} *{escape(f['check'])}* — {code(resource)} ({where})\n{escape(f['detail'])}"
    block = section(text)
    if fix_id and f.get("remediation"):
        block["accessory"] = button("Request fix", "request_fix", fix_id, style="primary")
    return block
