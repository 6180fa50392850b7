"""Gathering one region of one account for the checks: its calls in parallel, each resource read by its module.

This module only reads; it makes no change to AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import call
from workers.aws.errors import ApiError
from workers.resources import alarm, bucket, channel, key, recorder, trail
from workers.resources.facts import RegionFacts, TrailFacts

_REGION_THREADS = 64  # started on demand: 3 region calls, then 7 per trail homed here


def collect_region(account: Account, region: str, audited: list[str], retention_days: int = 365) -> RegionFacts:
    """Gather one region: trails (shadow trails included), Config recorder, status and delivery channel.

    Per-trail facts are gathered here for the trails whose home region this is, and, for trails homed in a
    region outside `audited`, by the first audited region, so that each trail is judged once, by ARN.
    """
    facts = RegionFacts(account=account.id, region=region)
    with ThreadPoolExecutor(_REGION_THREADS, thread_name_prefix=f"ta-{region}") as pool:
        trails = pool.submit(call, account, "cloudtrail", region, "DescribeTrails", includeShadowTrails=True)
        recorders = pool.submit(recorder.read_recorders, account, region)
        channels = pool.submit(channel.read_channels, account, region)
        answer = trails.result()
        facts.trails = answer if isinstance(answer, ApiError) else answer.get("trailList", [])
        pending: list[tuple[TrailFacts, list[Future[Any]]]] = []
        if not isinstance(facts.trails, ApiError):
            for listed in facts.trails:
                if _gathered_here(listed, region, audited):
                    tf = TrailFacts(arn=listed["TrailARN"], home_region=listed.get("HomeRegion", region), trail=listed,
                                    retention_days=retention_days)
                    pending.append((tf, _submit_trail(pool, account, tf)))
        for tf, futures in pending:
            answers = [f.result() for f in futures]
            tf.status, tf.selectors, tf.bucket, tf.alarm, tf.lifecycle, tf.policy, tf.key = answers
            facts.trail_facts.append(tf)
        facts.recorders, facts.recorder_statuses, facts.linked_recorders = recorders.result()
        facts.channels = channels.result()
    return facts


def _gathered_here(trail: dict[str, Any], region: str, audited: list[str]) -> bool:
    home = trail.get("HomeRegion", region)
    return home == region or (home not in audited and region == min(audited))


def _submit_trail(pool: ThreadPoolExecutor, account: Account, tf: TrailFacts) -> list[Future[Any]]:
    home, arn = tf.home_region, tf.arn
    jobs: list[Callable[[], Any]] = [
        lambda: call(account, "cloudtrail", home, "GetTrailStatus", Name=arn),
        lambda: call(account, "cloudtrail", home, "GetEventSelectors", TrailName=arn),
        lambda: trail.read_bucket(account, home, tf.trail.get("S3BucketName")),
        lambda: alarm.read_chain(account, tf.trail),
        lambda: bucket.read_lifecycle(account, home, tf.trail.get("S3BucketName")),
        lambda: bucket.read_policy(account, home, tf.trail.get("S3BucketName")),
        lambda: key.read_key(account, home, tf.trail.get("KmsKeyId")),
    ]
    return [pool.submit(job) for job in jobs]

