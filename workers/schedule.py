"""The cron scheduler's configuration (`rq cron workers.schedule`, started by the Procfile's `clock`).

Periodic jobs are enqueued on the shared queue and run by ordinary workers.
"""

from __future__ import annotations

from rq import cron

from workers import monitor, remediate, watchdog
from workers.queues import QUEUE
from workers.settings import Settings

WATCHDOG_EVERY = 5  # seconds
DUE_EVERY = 5  # seconds: backout deadlines fire at most this late

cron.register(watchdog.sweep, QUEUE, interval=WATCHDOG_EVERY, job_timeout=30, result_ttl=60, failure_ttl=3600)
cron.register(remediate.sweep_due, QUEUE, interval=DUE_EVERY, job_timeout=60, result_ttl=60, failure_ttl=3600)
cron.register(
    monitor.cycle, QUEUE, interval=Settings().monitor_seconds, job_timeout=60, result_ttl=600, failure_ttl=86400
)
