"""Whether the workers keep up with the monitor: the pace's arithmetic, directly; and on a real redis-server
with no worker running, a second cycle that finds every account's job still waiting queues no second one,
counts them behind, and says so in `status` (the Home shows the same lines) and in `/metrics`."""

from __future__ import annotations

import pytest
from redis import Redis as RedisClient

from workers.core.settings import Settings
from workers.monitor import pace, watch
from workers.monitor.status import status_lines
from workers.queue.queues import MONITOR, queue
from workers.state import monitor_records

ROLES = [f"arn:aws:iam::{100000000000 + n}:role/TrailAudit" for n in range(4)]


def test_a_cycle_within_its_workers_time_is_not_short() -> None:
    paced = pace.plan(accounts=100, behind=0, seconds=0.2, workers=1, interval=60)  # 20 s of 60
    assert paced["load"] == pytest.approx(0.333, abs=0.001) and not paced["short"]
    assert pace.warning(paced) is None and "suggest_workers" not in paced


def test_too_much_work_for_the_interval_suggests_workers_or_an_interval() -> None:
    paced = pace.plan(accounts=200, behind=0, seconds=0.55, workers=1, interval=60)  # 110 s of work a minute
    assert paced["short"] and paced["load"] == pytest.approx(1.833, abs=0.001)
    assert paced["suggest_workers"] == 3  # 110 s / (60 s x 0.8)
    assert paced["suggest_interval"] == 140  # 110 s / 0.8, to the next 10 s
    said = pace.warning(paced) or ""
    assert "every 60 s" in said and "183%" in said and "Run 3 workers (now 1)" in said
    assert "TRAIL_AUDIT_MONITOR_SECONDS to 140" in said


def test_accounts_left_waiting_are_short_even_before_any_job_is_timed() -> None:
    paced = pace.plan(accounts=4, behind=4, seconds=None, workers=0, interval=60)
    assert paced["short"] and "4 of 4 accounts were still waiting" in (pace.warning(paced) or "")


def test_a_cycle_with_its_last_jobs_still_waiting_counts_them_behind_and_queues_none_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TRAIL_AUDIT_ROLE_ARNS", ",".join(ROLES))
    monkeypatch.setenv("TRAIL_AUDIT_MONITOR_SECONDS", "3600")  # one account an hour apart: only the first queued
    conn = RedisClient.from_url(redis_url)
    conn.flushall()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert watch.cycle(settings, conn) == 4
    assert (monitor_records.coverage(conn) or {})["behind"] == 0
    assert watch.cycle(settings, conn) == 0  # no worker ran: nothing queued twice
    paced = monitor_records.coverage(conn) or {}
    assert paced["behind"] == 4 and paced["short"] and len(queue(conn, MONITOR)) == 1
    assert any("4 of 4 accounts were still waiting" in line for line in status_lines(conn))
    monitor_records.started(conn, ROLES[0])  # a worker took the first: the next cycle queues it again
    assert watch.cycle(settings, conn) == 1
    from bot.prometheus import render

    text = render(settings)[0].decode()
    assert "trail_audit_monitor_accounts_behind 3.0" in text
