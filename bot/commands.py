"""Parsing `/trail-audit ...` text into a command: pure, so bad input is answered clearly and tested directly."""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.regions import invalid_region_names

SUBCOMMANDS = ("audit", "events", "status", "log", "help")


@dataclass(frozen=True)
class Command:
    """A parsed slash command, or the problem with it."""

    name: str
    regions: list[str] = field(default_factory=list)
    hours: int | None = None
    count: int | None = None
    problem: str | None = None


def parse(text: str) -> Command:
    """`audit [region ...]` (the default), `events [hours]`, `status`, `log [n]`, `help`."""
    words = text.split()
    if not words:
        return Command("audit")
    name, args = words[0].lower(), words[1:]
    if name not in SUBCOMMANDS:
        if not invalid_region_names([name]):  # `/trail-audit eu-west-1` means an audit of that region
            return parse("audit " + text)
        return Command("help", problem=f"Unknown subcommand `{words[0][:40]}`. Try one of: {', '.join(SUBCOMMANDS)}.")
    if name == "audit":
        regions = [r for a in args for r in a.replace(",", " ").split()]
        bad = invalid_region_names(regions)
        if bad:
            return Command("help", problem=f"Not a region name: `{bad[0][:40]}` (expected e.g. `us-east-1`).")
        return Command("audit", regions=regions)
    if name == "events":
        if len(args) > 1 or (args and not args[0].isdigit()) or (args and not 1 <= int(args[0]) <= 2160):
            return Command("help", problem="`events` takes one number of hours, from 1 to 2160.")
        return Command("events", hours=int(args[0]) if args else None)
    if name == "log":
        if len(args) > 1 or (args and not args[0].isdigit()) or (args and not 1 <= int(args[0]) <= 100):
            return Command("help", problem="`log` takes one number of entries, from 1 to 100.")
        return Command("log", count=int(args[0]) if args else 20)
    if args:
        return Command("help", problem=f"`{name}` takes no arguments.")
    return Command(name)
