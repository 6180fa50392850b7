"""The report schedule: cron fields, aliases and `@every`, read and stepped through (UTC)."""

from __future__ import annotations

import calendar

import pytest

from workers.core import cron
from workers.core.settings import Settings


def at(text: str) -> float:
    """`2026-12-01 09:00` (UTC) as epoch seconds."""
    day, clock = text.split()
    y, m, d = map(int, day.split("-"))
    hh, mm = map(int, clock.split(":"))
    return float(calendar.timegm((y, m, d, hh, mm, 0, 0, 0, 0)))


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("0 9 * * *", "2026-12-01 08:59", "2026-12-01 09:00"),
        ("0 9 * * *", "2026-12-01 09:00", "2026-12-02 09:00"),  # strictly after
        ("*/15 * * * *", "2026-12-01 09:01", "2026-12-01 09:15"),
        ("0 9 * * 1-5", "2026-12-04 10:00", "2026-12-07 09:00"),  # Friday -> Monday
        ("0 0 1,15 * *", "2026-12-02 00:00", "2026-12-15 00:00"),
        ("30 6 * * 0", "2026-12-01 00:00", "2026-12-06 06:30"),  # Sunday as 0
        ("30 6 * * 7", "2026-12-01 00:00", "2026-12-06 06:30"),  # and as 7
        ("0 0 13 * 5", "2026-12-01 00:00", "2026-12-04 00:00"),  # both day fields: either matches (a Friday)
        ("@weekly", "2026-12-01 00:00", "2026-12-07 00:00"),
        ("@daily", "2026-12-31 23:59", "2027-01-01 00:00"),
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),  # the next leap day
    ],
)
def test_the_next_fire_time(spec: str, after: str, expected: str) -> None:
    assert cron.parse(spec).next_after(at(after)) == at(expected)


def test_every_fires_at_the_same_instants_on_every_host() -> None:
    every = cron.parse("@every 30s")
    assert every.next_after(1000.0) == 1020.0 and every.next_after(1020.0) == 1050.0
    assert cron.parse("@every 2m").next_after(at("2026-12-01 09:01")) == at("2026-12-01 09:02")


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("61 * * * *", "minute '61': out of range 0-59"),
        ("* * * *", "expected 5 fields"),
        ("*/0 * * * *", "the step must be a whole number from 1"),
        ("a * * * *", "expected *, a number, a range a-b, or a step */n"),
        ("0 0 31 2 *", "no month has that day"),
        ("@every 10", "expected a whole number and s, m or h"),
        ("@every 0s", "expected a whole number and s, m or h"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_part(spec: str, said: str) -> None:
    with pytest.raises(cron.CronError, match=said.replace("*", r"\*").replace("(", r"\(")):
        cron.parse(spec)
    with pytest.raises(ValueError, match="TRAIL_AUDIT_REPORT_SCHEDULE"):
        Settings(_env_file=None, TRAIL_AUDIT_REPORT_SCHEDULE=spec)  # type: ignore[call-arg]
