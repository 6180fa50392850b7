"""The clock lease on a real redis-server: one clock runs the schedule, another takes over when it lapses, and
the schedule (kept in Redis, on Redis's clock) is neither repeated nor skipped by a takeover."""

from __future__ import annotations

from redis import Redis

from tests.helpers.waiting import wait_until
from workers.queue import paths
from workers.state import clock_lease, keys


def test_one_holder_at_a_time_and_a_takeover_once_it_lapses(redis_url: str) -> None:
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    assert clock_lease.hold(conn, "a", 30) and clock_lease.hold(conn, "a", 30)  # taken, then renewed
    assert not clock_lease.hold(conn, "b", 30)
    assert clock_lease.holder(conn) == "a"
    assert not clock_lease.release(conn, "b") and clock_lease.holder(conn) == "a"  # only its holder gives it up
    conn.pexpire(keys.CLOCK_LEASE, 1)  # "a" died: it renews no more
    wait_until(lambda: clock_lease.hold(conn, "b", 30), 5)
    assert clock_lease.holder(conn) == "b" and not clock_lease.hold(conn, "a", 30)  # "a" is back: it stands by
    assert clock_lease.release(conn, "b") and clock_lease.holder(conn) is None
    assert clock_lease.hold(conn, "a", 30)  # a stopped clock's lease is taken at once


def test_each_run_is_claimed_once_and_a_new_holder_keeps_the_old_schedule(redis_url: str) -> None:
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    assert clock_lease.claim_run(conn, "a", paths.MONITOR_CYCLE, 60) == -1.0  # no lease, no run
    clock_lease.hold(conn, "a", 30)
    assert clock_lease.claim_run(conn, "a", paths.MONITOR_CYCLE, 60) == 0.0  # due (never run): claimed
    left = clock_lease.claim_run(conn, "a", paths.MONITOR_CYCLE, 60)
    assert 59 < left <= 60  # not again within the interval
    assert clock_lease.claim_run(conn, "b", paths.MONITOR_CYCLE, 60) == -1.0  # "b" does not hold the lease
    assert clock_lease.claim_run(conn, "a", paths.SWEEP_DUE, 1) == 0.0  # each work has its own schedule
    conn.delete(keys.CLOCK_LEASE)  # "a" lost the lease; "b" takes over at once
    assert clock_lease.hold(conn, "b", 30)
    assert 58 < clock_lease.claim_run(conn, "b", paths.MONITOR_CYCLE, 60) <= 60  # the cycle "a" ran is not run again
    conn.set(keys.clock_due(paths.MONITOR_CYCLE), "0")  # its time comes
    assert clock_lease.claim_run(conn, "b", paths.MONITOR_CYCLE, 60) == 0.0
    assert clock_lease.claim_run(conn, "a", paths.MONITOR_CYCLE, 60) == -1.0
