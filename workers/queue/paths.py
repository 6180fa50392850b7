"""Every job's dotted path, and the old paths that still resolve.

Jobs are enqueued by dotted path (the queue plumbing imports no use case). A job queued before a module moved
names its old path; `Job` looks every function and failure callback up through `ALIASES`, so such a job still
runs, whichever process runs it or its callback (a worker, the watchdog, RQ's cleanup).
"""

from __future__ import annotations

from typing import Any

from rq.job import Job as RqJob
from rq.utils import import_attribute

START_AUDIT = "workers.audit.jobs.start_audit"
AUDIT_REGIONS = "workers.audit.jobs.audit_regions"
AUDIT_ACCOUNTS = "workers.audit.jobs.audit_accounts"
FINISH_AUDIT = "workers.audit.jobs.finish_audit"
EXPORT_REPORT = "workers.export.securityhub.export_report"
PREPARE = "workers.remediation.planning.prepare"
PREPARE_FAILED = "workers.remediation.planning.prepare_failed"
EXECUTE = "workers.remediation.execution.execute"
EXECUTION_FAILED = "workers.remediation.execution.execution_failed"
RECHECK = "workers.remediation.execution.recheck_request"
REENABLE = "workers.remediation.backouts.reenable"
SWEEP_DUE = "workers.remediation.backouts.sweep_due"
MONITOR_CYCLE = "workers.monitor.watch.cycle"
WATCH_ACCOUNT = "workers.monitor.watch.watch_account"
DELIVER = "workers.slack.outbox.deliver"
OUTBOX_SWEEP = "workers.slack.outbox.sweep"
HOME_PUBLISH = "workers.app_home.publish"
HOME_REFRESH = "workers.app_home.refresh"
WATCHDOG = "workers.queue.watchdog.sweep"
FUNCTION_STEPS = "workers.remediation.function_steps.sweep"  # Workflow Builder steps decided
REPORT_SCHEDULE = "workers.audit.scheduled.fire_due"  # the scheduled posture reports
QUEUE_DEPTH = "workers.queue.depth.publish"  # the queue's depth in CloudWatch, for scaling the workers
FAILED = "workers.slack.failed_jobs.report"  # the failure callback of every job that owns a Slack message

CURRENT = (START_AUDIT, AUDIT_REGIONS, AUDIT_ACCOUNTS, FINISH_AUDIT, EXPORT_REPORT, PREPARE, PREPARE_FAILED, EXECUTE,
           EXECUTION_FAILED, RECHECK, REENABLE, SWEEP_DUE, MONITOR_CYCLE, WATCH_ACCOUNT, DELIVER, OUTBOX_SWEEP,
           HOME_PUBLISH, HOME_REFRESH, WATCHDOG, FAILED)  # fmt: skip


# run inside the worker's own process, not a forked work horse: each is short, and what it keeps (an account's
# credentials, the process's AWS clients, the chain patterns judged) serves the next one (see `worker`)
IN_PROCESS = frozenset({WATCH_ACCOUNT})


def preload() -> int:
    """Import every job's function by its dotted path, as RQ would in each work horse: a worker does it once
    before it forks, so its horses start with the modules loaded. Returns how many."""
    for path in CURRENT:
        import_attribute(path)
    return len(CURRENT)


# old path -> current path (jobs and callbacks queued before a move; drained once no such job is left)
ALIASES = {
    "workers.jobs.start_audit": START_AUDIT,
    "workers.jobs.audit_regions": AUDIT_REGIONS,
    "workers.jobs.finish_audit": FINISH_AUDIT,
    "workers.remediate.prepare": PREPARE,
    "workers.remediate.execute": EXECUTE,
    "workers.remediate.reenable": REENABLE,
    "workers.remediate.recheck_request": RECHECK,
    "workers.remediate.sweep_due": SWEEP_DUE,
    "workers.remediate.execution_failed": EXECUTION_FAILED,
    "workers.remediate.prepare_failed": PREPARE_FAILED,
    "workers.monitor.cycle": MONITOR_CYCLE,
    "workers.monitor.watch_account": WATCH_ACCOUNT,
    "workers.failures.report": FAILED,
    "workers.queue.failures.report": FAILED,
    "workers.watchdog.sweep": WATCHDOG,
    "workers.remediation.jobs.prepare": PREPARE,
    "workers.remediation.jobs.prepare_failed": PREPARE_FAILED,
    "workers.remediation.jobs.execute": EXECUTE,
    "workers.remediation.jobs.execution_failed": EXECUTION_FAILED,
    "workers.remediation.jobs.recheck_request": RECHECK,
    "workers.remediation.jobs.reenable": REENABLE,
    "workers.remediation.jobs.sweep_due": SWEEP_DUE,
    "workers.slack.home.publish": HOME_PUBLISH,
    "workers.slack.home.refresh": HOME_REFRESH,
}


def resolve(path: str) -> str:
    """The current dotted path of `path`."""
    return ALIASES.get(path, path)


def function(path: str) -> Any:
    """The function a dotted path (current or old) names."""
    return import_attribute(resolve(path))


class Job(RqJob):
    """An RQ job whose function and failure callback are looked up through `ALIASES`."""

    @property
    def func(self) -> Any:
        """The job's function, found under its current path."""
        name = self.func_name
        if name is None:
            return None
        if self.instance:
            return getattr(self.instance, name)
        return function(name)

    @property
    def failure_callback(self) -> Any:
        """The failure callback, found under its current path."""
        if self._failure_callback_name:
            self._failure_callback_name = resolve(self._failure_callback_name)
        return super().failure_callback
