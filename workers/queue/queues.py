"""The RQ queues every process shares, in the order workers serve them.

- urgent: deadline re-enables, sweeps, planning a request (its prompt), approved executions, the outbox;
- monitor: each account's watch job (a tamper must not wait behind a hundred audits), re-checks;
- normal: audits, planning, re-checks. Its name is the one queue's old name, so jobs queued before the
  queues were split are still served.
A worker takes the next job from the first non-empty queue, so urgent work waits at most for the job a
worker is running now.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from workers.queue.paths import Job

URGENT = "trail-audit-urgent"
MONITOR = "trail-audit-monitor"
NORMAL = "trail-audit"
QUEUES = (URGENT, MONITOR, NORMAL)  # the order a worker serves them
REGION_TIMEOUT = 300  # seconds a region job may run
FINISH_TIMEOUT = 120
EXECUTE_TIMEOUT = 120  # seconds an approved execution (or a re-check) may run
REENABLE_TIMEOUT = 40  # a re-enable makes one or two calls; the sweep's lease (50 s by default) is longer


def queue(conn: Redis, name: str = NORMAL) -> Queue:
    """One of the queues (default: normal)."""
    return Queue(name, connection=conn, job_class=Job)


def all_queues(conn: Redis) -> list[Queue]:
    """Every queue, in the order workers serve them."""
    return [queue(conn, name) for name in QUEUES]
