"""The RQ worker class the Procfile runs (`rq worker -w workers.worker.WarmWorker`).

RQ runs each job in a forked work horse, so whatever a job builds dies with it. Making boto3 clients is the
costly part of a job (about 7 ms of CPU each, a hundred for 17 regions), then importing the job's modules. The
warm worker imports every job's module and makes the process's clients for the audited regions once, before
it forks; every work horse inherits them and starts at once.

The monitor's watch jobs (`paths.IN_PROCESS`) run in the worker itself, with a heartbeat thread beside them:
one every minute per account for ever, each a fraction of a second, they would pay a fork and a role
assumption each; in process an account's credentials and the clients made for it serve every later cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from rq import Worker
from rq.callbacks import execute_failure_callback
from rq.exceptions import AbandonedJobError
from rq.worker import WorkerStatus

from workers.aws.accounts import Account, default_account
from workers.aws.regions import RegionPlan, plan
from workers.core import logs
from workers.core.settings import Settings, adopt
from workers.queue import paths
from workers.state import metrics

log = logging.getLogger("trail_audit.worker")
SERVICES = ("cloudtrail", "config", "logs", "cloudwatch", "sns", "s3", "kms")


def warm(settings: Settings) -> int:
    """Make the default account's clients for every audited region; return how many (0 when AWS is away)."""
    acct = default_account(settings)
    if not isinstance(acct, Account):
        log.warning("clients not made ahead: account unreachable", extra={"error": acct.error.sentence()})
        return 0
    regions = plan(acct, settings.home_region, settings.regions)
    if not isinstance(regions, RegionPlan):
        log.warning("clients not made ahead: regions unknown", extra={"error": regions.sentence()})
        return 0
    for region in regions.enabled:
        for service in SERVICES:
            acct.client(service, region)
    return len(regions.enabled) * len(SERVICES)


class WarmWorker(Worker):
    """An RQ worker whose work horses inherit ready-made AWS clients."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        logs.setup()
        t0 = time.monotonic()
        loaded = paths.preload()
        settings = Settings()
        adopt(settings)  # read once: the jobs run in this process use them
        made = warm(settings)
        log.info("jobs loaded and clients made ahead",
                 extra={"jobs": loaded, "clients": made, "seconds": round(time.monotonic() - t0, 3)})  # fmt: skip

    stopping = False  # set once SIGTERM or SIGINT asked this worker to stop (not a Redis failure)

    def execute_job(self, job: Any, queue: Any) -> None:
        """Fork a work horse for the job, or run a short, cache-friendly job (`paths.IN_PROCESS`) right here
        while a thread keeps the heartbeats (the watchdog's judge of a live worker) going."""
        if job.func_name not in paths.IN_PROCESS:
            super().execute_job(job, queue)
            return
        execution = self.prepare_execution(job)
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, done), name="ta-heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Any, execution: Any, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # Redis away: the job's own calls will say so; the next beat tries again
                log.warning("heartbeat not sent", extra={"job": job.id}, exc_info=True)

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        """Run the job (in the work horse), then add what it counted to Redis for `GET /metrics`."""
        try:
            return bool(super().perform_job(job, queue, *args, **kwargs))
        finally:
            metrics.flush(self.connection)

    def request_stop(self, signum: Any, frame: Any) -> None:
        """A warm shutdown (SIGTERM, SIGINT): remember it was asked for, then let RQ do it."""
        self.stopping = True
        super().request_stop(signum, frame)

    def handle_work_horse_killed(self, job: Any, retpid: int, ret_val: int, rusage: Any) -> None:
        """A work horse that died (killed, out of memory) fails its job like an abandoned one: RQ records the
        failure; here its failure callback runs too, so the job's request or message is never left in progress."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        error = AbandonedJobError(f"the work horse died (waitpid {ret_val})")
        try:
            execute_failure_callback(job, self.death_penalty_class, AbandonedJobError, error, None)
        except Exception:
            log.exception("failure callback of a killed job failed", extra={"job": job.id})
