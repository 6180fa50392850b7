"""Jobs whose worker died are failed within seconds, so their failure callbacks tell Slack.

RQ notices an abandoned job only when its heartbeat expires (a minute or more) and a worker next runs its
maintenance. The watchdog, run by the cron scheduler every few seconds, looks at each started job's worker:
when that worker has not sent a heartbeat for `STALE` seconds (busy workers send one three times within it,
at most every 5 s: `run.heartbeat_seconds`), the job's entry in RQ's started registry is expired and RQ's own
cleanup runs, which calls the job's failure callback, records the failure and releases the jobs that depend on
it.
"""

from __future__ import annotations

import logging
import time

import rq.job
from redis import Redis
from rq import Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.registry import StartedJobRegistry

from workers.core.settings import Settings
from workers.queue.paths import Job
from workers.queue.queues import all_queues
from workers.state.connection import connection
from workers.state.job_registry import expire_started, started_jobs

log = logging.getLogger("trail_audit.watchdog")


def sweep(settings: Settings | None = None, conn: Redis | None = None) -> list[str]:
    """Fail the started jobs (of every queue) whose worker is gone; return their ids."""
    settings = settings or Settings()  # the clock passes its own (read once)
    conn = conn or connection(settings)
    me = get_current_job()
    failed: list[str] = []
    for registry in (StartedJobRegistry(queue=q) for q in all_queues(conn)):
        dead: list[str] = []
        for member in started_jobs(conn, registry.key):
            job_id = registry.parse_job_id(member)
            if me is not None and job_id == me.id:
                continue
            try:
                job = Job.fetch(job_id, connection=conn)
            except NoSuchJobError:
                continue
            if not _worker_alive(conn, job, settings.watchdog_stale_seconds):
                dead.append(member)
        if dead:
            expire_started(conn, registry.key, dead)  # expire them now; RQ's cleanup does the rest
            registry.cleanup()
            failed += [registry.parse_job_id(m) for m in dead]
    if failed:
        log.warning("abandoned jobs failed", extra={"jobs": failed})
    return failed


def _worker_alive(conn: object, job: rq.job.Job, stale: float) -> bool:
    if not job.worker_name:
        return True  # not yet claimed by a worker: nothing to judge
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=conn)  # type: ignore[arg-type]
    if worker is None or worker.last_heartbeat is None:
        return False
    return time.time() - worker.last_heartbeat.timestamp() < stale
