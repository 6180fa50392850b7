"""The terminal report: grouped by check, what needs attention first, colour only where it helps."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from workers.audit.engine import AuditResult
from workers.aws.event_history import ChangeEvent, EventsReport
from workers.resources.findings import STATUS_ORDER, Finding, Status, overall
from workers.resources.verdicts import CHECKS
from workers.slack.messages.changes import headline

_COLOURS = {Status.FAIL: "31;1", Status.ERROR: "33;1", Status.PASS: "32", Status.SKIPPED: "2"}
_MARKS = {Status.FAIL: "✗", Status.ERROR: "!", Status.PASS: "✓", Status.SKIPPED: "-"}


def use_colour(stream: IO[str]) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return "NO_COLOR" not in os.environ and stream.isatty()


class _Paint:
    def __init__(self, on: bool) -> None:
        self.on = on

    def status(self, status: Status, text: str | None = None) -> str:
        text = text if text is not None else status.value
        return f"\033[{_COLOURS[status]}m{text}\033[0m" if self.on else text

    def dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self.on else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.on else text


def render(result: AuditResult, colour: bool = False) -> str:
    """The whole report as text."""
    paint = _Paint(colour)
    lines = [_headline(result, paint), ""]
    groups: dict[str, list[Finding]] = {}
    for f in result.findings:
        groups.setdefault(f.check, []).append(f)
    ordered = sorted(groups.items(), key=lambda kv: (STATUS_ORDER[overall(kv[1])], kv[0]))
    for check_id, findings in ordered:
        lines.extend(_group(check_id, findings, paint))
    if result.events is not None:
        lines.extend(["", *render_events(result.events, colour)])
    return "\n".join(lines) + "\n"


def _headline(result: AuditResult, paint: _Paint) -> str:
    verdict = overall(result.findings)
    counts = Counter(f.status for f in result.findings)
    parts = [f"{counts.get(s, 0)} {s.value.lower()}" for s in (Status.FAIL, Status.ERROR, Status.PASS, Status.SKIPPED)]
    accounts = ", ".join(result.accounts)
    return (
        f"{paint.bold('trail-audit')}  {paint.status(verdict)}  account {accounts} · {len(result.regions)} "
        f"regions · {', '.join(parts)} · {result.coverage} · {result.seconds:.1f}s"
    )


def summary(result: AuditResult, colour: bool = False) -> str:
    """`--summary`: one line per account that is not clean (its fail and error counts), one for the clean."""
    paint = _Paint(colour)
    by_account: dict[str, Counter[Status]] = {}
    for f in result.findings:
        by_account.setdefault(f.account, Counter())[f.status] += 1
    lines = [_headline(result, paint)]
    clean = []
    for account in sorted(by_account):
        counts = by_account[account]
        if not counts.get(Status.FAIL) and not counts.get(Status.ERROR):
            clean.append(account)
            continue
        verdict = Status.FAIL if counts.get(Status.FAIL) else Status.ERROR
        unreached = " (not reached)" if account in result.unreachable else ""
        lines.append(f"{paint.status(verdict)} {account}{unreached}: {counts.get(Status.FAIL, 0)} fail, "
                     f"{counts.get(Status.ERROR, 0)} error")  # fmt: skip
    if clean:
        lines.append(f"{paint.status(Status.PASS)} {len(clean)} account{'' if len(clean) == 1 else 's'} clean")
    return "\n".join(lines) + "\n"


def _group(check_id: str, findings: list[Finding], paint: _Paint) -> list[str]:
    verdict = overall(findings)
    counts = Counter(f.status for f in findings)
    summary = ", ".join(f"{n} {s.value.lower()}" for s, n in sorted(counts.items(), key=lambda x: STATUS_ORDER[x[0]]))
    title = CHECKS[check_id].title if check_id in CHECKS else ""
    head = f"{paint.status(verdict, _MARKS[verdict])} {paint.bold(check_id)}  {paint.dim(title)}  ({summary})"
    lines = [head]
    for f in sorted(findings, key=lambda f: (STATUS_ORDER[f.status], f.region, f.resource)):
        if f.status in (Status.PASS, Status.SKIPPED):
            continue
        where = f"{f.account}/{f.region}"
        lines.append(f"    {paint.status(f.status, f'{f.status.value:<5}')} {where}  {_short(f.resource)}")
        lines.append(f"          {f.detail}")
        if f.remediation:
            lines.append(f"          {paint.dim('fix: ' + f.remediation)}")
    skipped = sorted({f.region for f in findings if f.status is Status.SKIPPED})
    if skipped and verdict is not Status.SKIPPED:
        lines.append(f"    {paint.dim('skipped (not enabled): ' + ', '.join(skipped))}")
    return lines


def _short(resource: str) -> str:
    """A trail ARN shortened to its trail name, with the account when it is another's."""
    if resource.startswith("arn:aws") and ":trail/" in resource:
        return "trail/" + resource.rsplit("/", 1)[-1]
    return resource


def render_events(report: EventsReport, colour: bool = False, limit: int = 30) -> list[str]:
    """Recent changes, newest first, failed attempts marked."""
    paint = _Paint(colour)
    lines = [
        paint.bold(f"Changes to CloudTrail and Config in the last {report.hours}h") + f"  ({len(report.events)} found)"
    ]
    lines.extend(_event_line(e, paint) for e in report.events[:limit])
    if len(report.events) > limit:
        lines.append(paint.dim(f"    … {len(report.events) - limit} more (use --format json)"))
    for account, region, error in report.errors:
        lines.append(f"    {paint.status(Status.ERROR)} {account}/{region}: {error.sentence()}")
    return lines


def _event_line(e: ChangeEvent, paint: _Paint) -> str:
    failed = paint.status(Status.FAIL, f" FAILED ({e.error_code})") if e.failed else ""
    return f"    {e.time}  {e.account}/{e.region}  {paint.bold(e.name)}{failed}  by {e.actor} from {e.source_ip}"


def changes(delta: dict[str, Any], limit: int = 10) -> str:
    """The delta's short section: the headline, then the new failing findings and the resolved ones."""
    out = [f"Changes: {headline(delta)}"]
    for kind, mark in (("new", "+"), ("resolved", "-")):
        entries = delta.get(kind) or []
        out += [f"  {mark} {e['status'] if kind == 'new' else 'resolved'} {e['check']} {e['account']} {e['region']} "
                f"{_short(e['resource'])}" for e in entries[:limit]]  # fmt: skip
        if len(entries) > limit:
            out.append(f"  … and {len(entries) - limit} more {kind.replace('_', ' ')}")
    return lines(out)


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """A one-line progress bar for regions finished."""
    filled = int(width * done / total) if total else width
    return f"\rauditing [{'#' * filled}{'.' * (width - filled)}] {done}/{total} regions"


def lines(items: Iterable[str]) -> str:
    """Join lines with a final newline."""
    return "".join(f"{item}\n" for item in items)
