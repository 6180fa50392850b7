"""The warm worker runs watch jobs in its own process (moto, a real redis-server): no work horse is forked for
them, and what one job made (an account's assumed credentials, the settings read at start) serves the next;
other jobs still get their work horse."""

from __future__ import annotations

import os

import pytest
from redis import Redis as RedisClient

from demo.fake_account import HOME, compliant
from demo.servers import Moto
from workers.aws import accounts
from workers.core import settings as settings_module
from workers.queue import paths
from workers.queue.queues import MONITOR, NORMAL, queue
from workers.queue.worker import WarmWorker
from workers.state import monitor_records

ROLE = "arn:aws:iam::333333333333:role/TrailAudit"


@pytest.fixture
def conn(aws: Moto, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> RedisClient:
    compliant([HOME])
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TRAIL_AUDIT_REGIONS", HOME)
    monkeypatch.setattr(settings_module, "_ADOPTED", None)  # the worker adopts its settings; undone after
    client = RedisClient.from_url(redis_url)
    client.flushall()
    return client


def test_watch_jobs_run_in_the_worker_and_keep_what_they_made(
    conn: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise AssertionError("a work horse was forked for a watch job")

    monkeypatch.setattr(os, "fork", no_fork)
    worker = WarmWorker([queue(conn, MONITOR)], connection=conn, job_class=paths.Job)
    assert settings_module.current() is settings_module._ADOPTED is not None  # read once, at start
    q = queue(conn, MONITOR)
    first = q.enqueue(paths.WATCH_ACCOUNT, ROLE)
    worker.work(burst=True)
    assert first.get_status(refresh=True) == "finished"
    reached = accounts._ACCOUNTS[ROLE]
    second = q.enqueue(paths.WATCH_ACCOUNT, ROLE)
    worker.work(burst=True)
    assert second.get_status(refresh=True) == "finished"
    assert accounts._ACCOUNTS[ROLE] is reached and reached.calls["cloudtrail:GetTrailStatus"] == 0  # empty account
    assert len(monitor_records.cycles(conn)) == 1


def test_other_jobs_still_get_a_work_horse(conn: RedisClient, monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    real = os.fork

    def counted() -> int:
        forks.append(1)
        return real()

    monkeypatch.setattr(os, "fork", counted)
    worker = WarmWorker([queue(conn, NORMAL)], connection=conn, job_class=paths.Job)
    job = queue(conn, NORMAL).enqueue(paths.HOME_REFRESH)
    worker.work(burst=True)
    assert forks and job.get_status(refresh=True) in ("finished", "failed")
