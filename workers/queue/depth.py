"""The queue's depth as a CloudWatch metric, for scaling the workers on it (the ECS deployment's policy).

Every minute the clock holding the lease publishes, in `TRAIL_AUDIT_QUEUE_METRIC_NAMESPACE` (unset: nothing is
published), `JobsWaiting` (every queue's waiting jobs) and `JobsWaitingPerWorker` (the same over the live
workers, at least one): the target a service's target-tracking policy keeps, adding workers as jobs wait.
The call is made with the process's own credentials (the task role: `deploy/iam/queue-metric-policy.json`).
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Worker

from workers.aws.accounts import AccountError, default_account
from workers.aws.calls import call
from workers.aws.errors import ApiError
from workers.core.settings import Settings
from workers.queue.queues import all_queues

log = logging.getLogger("trail_audit.queue")
EVERY = 60.0  # seconds between two publications (CloudWatch's standard resolution)


def measure(conn: Redis) -> dict[str, float]:
    """The jobs waiting on every queue, and per live worker."""
    waiting = sum(q.count for q in all_queues(conn))
    workers = max(1, Worker.count(connection=conn))
    return {"JobsWaiting": float(waiting), "JobsWaitingPerWorker": waiting / workers}


def publish(settings: Settings, conn: Redis) -> dict[str, float] | None:
    """Clock job: put the queue's depth in CloudWatch (when a namespace is set); returns what was put."""
    if not settings.queue_metric_namespace:
        return None
    values = measure(conn)
    acct = default_account(settings)
    if isinstance(acct, AccountError):
        log.warning("queue depth not published", extra={"error": acct.error.sentence()})
        return None
    data = [{"MetricName": name, "Value": value, "Unit": "Count"} for name, value in values.items()]
    answer = call(acct, "cloudwatch", settings.home_region, "PutMetricData",
                  Namespace=settings.queue_metric_namespace, MetricData=data)  # fmt: skip
    if isinstance(answer, ApiError):
        log.warning("queue depth not published", extra={"error": answer.sentence()})
        return None
    return values
