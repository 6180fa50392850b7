"""Parsing `/trail-audit ...` text into a command: pure, so bad input is answered clearly and tested directly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workers.core.check_catalogue import invalid_region_names
from workers.core.mrkdwn import code, unescape

SUBCOMMANDS = ("audit", "events", "remediate", "backout", "reenable", "waive", "status", "log", "help")


@dataclass(frozen=True)
class Command:
    """A parsed slash command, or the problem with it."""

    name: str
    regions: list[str] = field(default_factory=list)
    hours: int | None = None
    count: int | None = None
    check: str | None = None
    resource: str | None = None
    region: str | None = None
    minutes: float | None = None
    days: float | None = None
    reason: str | None = None
    request_id: str | None = None
    problem: str | None = None


def parse(text: str) -> Command:
    """`audit [region ...]` (the default), `events [hours]`, `status`, `log [n]`, `help`.

    `text` is as Slack sends it (`&`, `<` and `>` escaped); the command holds it as typed, and every message
    that shows part of it escapes it again.
    """
    words = unescape(text).split()
    if not words:
        return Command("audit")
    name, args = words[0].lower(), words[1:]
    if name not in SUBCOMMANDS:
        if not invalid_region_names([name]):  # `/trail-audit eu-west-1` means an audit of that region
            return parse("audit " + text)
        valid = ", ".join(SUBCOMMANDS)
        return Command("help", problem=f"Unknown subcommand {code(words[0][:40])}. Try one of: {valid}.")
    if name == "audit":
        regions = [r for a in args for r in a.replace(",", " ").split()]
        bad = invalid_region_names(regions)
        if bad:
            return Command("help", problem=f"Not a region name: {code(bad[0][:40])} (expected e.g. `us-east-1`).")
        return Command("audit", regions=regions)
    if name == "events":
        hours = _whole(args, 1, 2160)
        if len(args) > 1 or (args and hours is None):
            return Command("help", problem="`events` takes one number of hours, from 1 to 2160.")
        return Command("events", hours=hours)
    if name == "remediate":
        return _remediate(args)
    if name == "backout":
        return _backout(args)
    if name == "waive":
        return _waive(args)
    if name == "reenable":
        if len(args) != 1 or not re.fullmatch(r"[0-9a-zA-Z]{1,32}", args[0]):
            return Command(
                "help", problem="`reenable` takes the backout's request id, e.g. `reenable 3f9a0c1d2b4e5f60`."
            )
        return Command("reenable", request_id=args[0])
    if name == "log":
        count = _whole(args, 1, 100)
        if len(args) > 1 or (args and count is None):
            return Command("help", problem="`log` takes one number of entries, from 1 to 100.")
        return Command("log", count=count or 20)
    if args:
        return Command("help", problem=f"`{name}` takes no arguments.")
    return Command(name)


def _remediate(args: list[str]) -> Command:
    """`remediate <check> <resource> [reason ...]`; without a reason, the bot asks for one."""
    if len(args) < 2:
        return Command("help", problem="`remediate` takes a check, a resource, and a reason: "
                       "`remediate cloudtrail.trail_logging my-trail it was stopped by mistake`.")  # fmt: skip
    check, resource, reason = args[0], args[1], " ".join(args[2:]).strip()
    return Command("remediate", check=check, resource=resource[:300], reason=reason[:500] or None)


def _waive(args: list[str]) -> Command:
    """`waive <check> <resource> <days> <reason ...>`: a check's finding accepted for a while (never an alert)."""
    usage = ("`waive` takes a check, a resource, a number of days and a reason: "
             "`waive cloudtrail.trail_log_file_validation legacy-eu 30 replaced by the org trail in Q1`.")  # fmt: skip
    if len(args) < 4:
        return Command("help", problem=usage)
    check, resource, days, reason = args[0], args[1], _number(args[2]), " ".join(args[3:]).strip()
    if check.lower().startswith("alert") or re.fullmatch(r"[0-9a-f]{16}", check):
        return Command("help", problem="Alerts cannot be waived: a tamper alert is acknowledged, never hidden.")
    if days is None or days <= 0:
        return Command("help", problem="A waiver lasts a positive number of days. " + usage)
    return Command("waive", check=check, resource=resource[:300], days=days, reason=reason[:500])


def _backout(args: list[str]) -> Command:
    """`backout <trail> [minutes] <reason>` or `backout recorder [region] [minutes] <reason>`."""
    usage = (
        "`backout` takes a trail (or `recorder` and a region), minutes, and a reason: "
        "`backout my-trail 30 selectors flood the bucket` or `backout recorder eu-west-1 15 cost spike`."
    )
    if not args:
        return Command("help", problem=usage)
    target, rest = args[0], args[1:]
    region = None
    if target.lower() == "recorder" and rest and not invalid_region_names([rest[0]]):
        region, rest = rest[0], rest[1:]
    minutes = None
    if rest and _number(rest[0]) is not None:
        minutes, rest = _number(rest[0]), rest[1:]
    reason = " ".join(rest).strip()
    if not reason:
        return Command("help", problem="A backout needs a reason. " + usage)
    if minutes is not None and minutes <= 0:
        return Command("help", problem="A backout lasts a positive number of minutes.")
    kind = "recorder" if target.lower() == "recorder" else "trail"
    return Command("backout", resource=target[:300] if kind == "trail" else "recorder", region=region,
                   minutes=minutes, reason=reason[:500])  # fmt: skip


def _whole(args: list[str], low: int, high: int) -> int | None:
    """The first argument as a whole number from `low` to `high` (ASCII digits only), or None."""
    if not args or not re.fullmatch(r"[0-9]{1,6}", args[0]):
        return None
    value = int(args[0])
    return value if low <= value <= high else None


def _number(word: str) -> float | None:
    if not re.fullmatch(r"[0-9]{0,6}(\.[0-9]{0,6})?", word) or word in ("", "."):
        return None
    try:
        value = float(word)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None
