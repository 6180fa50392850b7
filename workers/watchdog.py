"""Jobs whose worker died are failed within seconds, so their failure callbacks tell Slack.

RQ notices an abandoned job only when its heartbeat expires (a minute or more) and a worker next runs its
maintenance. The watchdog, run by the cron scheduler every few seconds, looks at each started job's worker:
when that worker has not sent a heartbeat for `STALE` seconds (workers send one every 5 while busy, see the
Procfile), the job's entry in RQ's started registry is expired and RQ's own cleanup runs, which calls the
job's failure callback, records the failure and releases the jobs that depend on it.
"""

from __future__ import annotations

import logging
import time

from rq import Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry

from workers.queues import connection, queue
from workers.settings import Settings

log = logging.getLogger("trail_audit.watchdog")
STALE = 20.0  # seconds without a worker heartbeat before its job is declared abandoned


def sweep() -> list[str]:
    """Fail the started jobs whose worker is gone; return their ids."""
    conn = connection(Settings())
    registry = StartedJobRegistry(queue=queue(conn))
    me = get_current_job()
    dead: dict[str, float] = {}
    for raw in conn.zrange(registry.key, 0, -1):
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        job_id = registry.parse_job_id(member)
        if me is not None and job_id == me.id:
            continue
        try:
            job = Job.fetch(job_id, connection=conn)
        except NoSuchJobError:
            continue
        if not _worker_alive(conn, job):
            dead[member] = 0
    if not dead:
        return []
    conn.zadd(registry.key, dead, xx=True)  # expire them now; RQ's cleanup does the rest
    registry.cleanup()
    ids = [registry.parse_job_id(m) for m in dead]
    log.warning("abandoned jobs failed", extra={"jobs": ids})
    return ids


def _worker_alive(conn: object, job: Job) -> bool:
    if not job.worker_name:
        return True  # not yet claimed by a worker: nothing to judge
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=conn)  # type: ignore[arg-type]
    if worker is None or worker.last_heartbeat is None:
        return False
    return time.time() - worker.last_heartbeat.timestamp() < STALE
