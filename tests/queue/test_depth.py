"""The queue's depth in CloudWatch (moto), as the ECS deployment's worker scaling reads it; real redis-server."""

from __future__ import annotations

import datetime as dt

import boto3
from redis import Redis

from demo.servers import Moto
from workers.core.settings import Settings
from workers.queue import depth, paths
from workers.queue.queues import MONITOR, queue


def test_the_depth_is_published_per_worker_in_the_namespace_and_not_without_one(aws: Moto, redis_url: str) -> None:
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    for n in range(3):
        queue(conn).enqueue(paths.START_AUDIT, {"id": f"a{n}"})
    queue(conn, MONITOR).enqueue(paths.WATCH_ACCOUNT, None)
    assert depth.publish(Settings(_env_file=None), conn) is None  # type: ignore[call-arg]  # no namespace: nothing
    settings = Settings(_env_file=None, TRAIL_AUDIT_QUEUE_METRIC_NAMESPACE="TrailAudit")  # type: ignore[call-arg]
    assert depth.publish(settings, conn) == {"JobsWaiting": 4.0, "JobsWaitingPerWorker": 4.0}  # no worker: one
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    now = dt.datetime.now(dt.UTC)
    for name in ("JobsWaiting", "JobsWaitingPerWorker"):
        window = {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1), "Period": 60}
        points = cw.get_metric_statistics(Namespace="TrailAudit", MetricName=name, Statistics=["Maximum"], **window)
        points = points["Datapoints"]
        assert [p["Maximum"] for p in points] == [4.0]


def test_its_policy_allows_exactly_that_call_in_that_namespace() -> None:
    import json

    from tests.helpers import ROOT

    (statement,) = json.loads((ROOT / "deploy/iam/queue-metric-policy.json").read_text())["Statement"]
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "TrailAudit"}}
