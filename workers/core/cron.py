"""When a scheduled report is due: a five-field cron expression (UTC), an alias, or `@every <n>s|m|h`.

`minute hour day-of-month month day-of-week`, each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a
comma list of those (day of week 0-6, Sunday 0; 7 is Sunday too). As in cron, when both day fields are
restricted a day matches either. Aliases: `@hourly`, `@daily`, `@weekly` (Monday 00:00), `@monthly`. `@every 30s`
fires at every multiple of 30 s since the epoch, the same instants on every host.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 1", "@monthly": "0 0 1 * *"}
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
NAMES = ("minute", "hour", "day of month", "month", "day of week")
SEARCH_DAYS = 4 * 366 + 1  # how far ahead the next match is looked for (29 February comes every four years)


class CronError(ValueError):
    """A schedule that cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: `every` seconds, or the allowed values of each cron field."""

    text: str
    every: float | None = None
    fields: tuple[frozenset[int], ...] = ()
    restricted: tuple[bool, bool] = (False, False)  # day of month, day of week

    def next_after(self, t: float) -> float:
        """The first time this schedule fires strictly after `t` (epoch seconds, UTC)."""
        if self.every is not None:
            return (t // self.every + 1) * self.every
        minute = (int(t) // 60 + 1) * 60
        limit = minute + SEARCH_DAYS * 86400
        while minute < limit:
            tm = time.gmtime(minute)
            if not self._day_matches(tm):
                minute = (minute // 86400 + 1) * 86400  # the next day's midnight
            elif tm.tm_min in self.fields[0] and tm.tm_hour in self.fields[1]:
                return float(minute)
            else:
                minute += 60
        raise CronError(f"{self.text!r} never fires")

    def _day_matches(self, tm: time.struct_time) -> bool:
        _, _, days, months, weekdays = self.fields
        if tm.tm_mon not in months:
            return False
        weekday = (tm.tm_wday + 1) % 7  # Python: Monday 0; cron: Sunday 0
        day_ok, week_ok = tm.tm_mday in days, weekday in weekdays or (weekday == 0 and 7 in weekdays)
        if all(self.restricted):
            return day_ok or week_ok
        return day_ok and week_ok


def parse(text: str) -> Schedule:
    """Read a schedule; a `CronError` names the part that is wrong."""
    spec = ALIASES.get(text.strip(), text.strip())
    if spec.startswith("@every"):
        return Schedule(text, every=_every(spec[len("@every") :].strip()))
    parts = spec.split()
    if len(parts) != 5:
        raise CronError(f"{text!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
                        "an alias (@hourly, @daily, @weekly, @monthly) or @every <n>s|m|h")  # fmt: skip
    fields = tuple(_field(part, name, bounds) for part, name, bounds in zip(parts, NAMES, BOUNDS, strict=True))
    schedule = Schedule(text, fields=fields, restricted=(parts[2] != "*", parts[4] != "*"))
    if not any(day <= calendar.monthrange(2024, month)[1] for month in fields[3] for day in fields[2]):
        raise CronError(f"{text!r}: no month has that day")
    return schedule


def _every(amount: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    if len(amount) < 2 or amount[-1] not in units or not amount[:-1].isdigit() or int(amount[:-1]) < 1:
        raise CronError(f"@every {amount!r}: expected a whole number and s, m or h (e.g. @every 30s)")
    return float(int(amount[:-1]) * units[amount[-1]])


def _field(part: str, name: str, bounds: tuple[int, int]) -> frozenset[int]:
    low, high = bounds
    values: set[int] = set()
    for item in part.split(","):
        base, _, step_text = item.partition("/")
        if step_text and (not step_text.isdigit() or int(step_text) < 1):
            raise CronError(f"{name} {item!r}: the step must be a whole number from 1")
        step = int(step_text or 1)
        if base == "*":
            first, last = low, high
        else:
            first_text, _, last_text = base.partition("-")
            if not first_text.isdigit() or (last_text and not last_text.isdigit()):
                raise CronError(f"{name} {item!r}: expected *, a number, a range a-b, or a step */n")
            first, last = int(first_text), int(last_text or first_text)
            if step_text and not last_text:
                last = high
        if not low <= first <= last <= high:
            raise CronError(f"{name} {item!r}: out of range {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)
