"""The layout keeps its promises: the catalogue the web process reads equals the registries, every job's dotted
path resolves, and jobs queued under an old path (before a move) still run, whoever runs them."""

from __future__ import annotations

import pytest
from rq.utils import import_attribute

from workers.core import check_catalogue
from workers.queue import paths
from workers.resources.actions import REMEDIATIONS
from workers.resources.verdicts import CHECKS

CURRENT = sorted(v for k, v in vars(paths).items() if k.isupper() and isinstance(v, str) and v.startswith("workers."))


def test_the_catalogue_equals_the_registries() -> None:
    assert {check_id: check.scope.value for check_id, check in CHECKS.items()} == check_catalogue.CHECK_SCOPES
    assert {r.fixes: r.id for r in REMEDIATIONS.values() if r.fixes} == check_catalogue.FIXES


@pytest.mark.parametrize("path", CURRENT)
def test_every_job_path_names_a_function(path: str) -> None:
    assert callable(import_attribute(path))


@pytest.mark.parametrize("old", sorted(paths.ALIASES))
def test_a_job_queued_under_an_old_path_runs_its_current_function(old: str) -> None:
    with pytest.raises((ImportError, AttributeError, ValueError)):
        import_attribute(old)  # the old module is gone: only the alias table makes it run
    assert paths.function(old) is import_attribute(paths.ALIASES[old])


def test_an_old_failure_callback_is_found_by_a_job_fetched_anywhere(redis_url: str) -> None:
    from redis import Redis
    from rq import Callback

    from workers.queue.queues import queue

    conn = Redis.from_url(redis_url)
    job = queue(conn).enqueue("workers.jobs.start_audit", {}, on_failure=Callback("workers.failures.report"))
    fetched = paths.Job.fetch(job.id, connection=conn)
    assert fetched.func is import_attribute(paths.START_AUDIT)
    assert fetched.failure_callback is import_attribute(paths.FAILED)
