"""Gathering the facts the checks judge: one region of one account at a time, calls in parallel.

Each fact is either the API's answer or the `ApiError` that kept us from it, so that a check can never
mistake a missing answer for a good one. This module only reads; it makes no change to AWS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore import xform_name

from workers.audit.accounts import Account
from workers.audit.awserrors import AWS_ERRORS, ApiError, from_exception
from workers.audit.metricfilter import CIS_EVENTS, Match, cis_match, message

T = TypeVar("T")
Fact = Any  # the API's answer, or an ApiError

_REGION_THREADS = 64  # started on demand: 4 region calls, then 4 per trail homed here


@dataclass
class AlarmFacts:
    """A metric filter of a trail's log group, which CIS events it matches (and who judged), and, when it
    matches all five, the alarms on its metric."""

    filter_name: str
    pattern: str
    metric: str
    namespace: str
    alarms: list[dict[str, Any]]  # {"name", "enabled", "actions", "topics": {arn: subscribers | "missing" | ApiError}}
    judged: Match = dataclasses.field(default_factory=lambda: Match(CIS_EVENTS))


@dataclass
class TrailFacts:
    """Everything known of one trail, gathered in its home region."""

    arn: str
    home_region: str
    trail: dict[str, Any]
    status: Fact = None
    selectors: Fact = None
    bucket: Fact = None  # "exists", "missing", "forbidden", "unset", or ApiError
    alarm: Fact = None  # list[AlarmFacts], ApiError, or None when the trail has no log group

    @property
    def name(self) -> str:
        """The trail's name."""
        return str(self.trail.get("Name") or self.arn.rsplit("/", 1)[-1])


@dataclass
class RegionFacts:
    """Everything gathered in one region of one account."""

    account: str
    region: str
    enabled: bool = True
    trails: Fact = None  # DescribeTrails(includeShadowTrails=True)["trailList"]
    trail_facts: list[TrailFacts] = field(default_factory=list)
    recorders: Fact = None
    recorder_statuses: Fact = None
    channels: Fact = None


def call(
    account: Account, service: str, region: str, operation: str, attempts: int | None = None, **params: Any
) -> Fact:
    """One API call: the answer (without ResponseMetadata, datetimes as ISO text) or an ApiError.

    `attempts` caps retries where a failure has a fallback (AWS's pattern evaluator, for one).
    """
    client = account.client(service, region, attempts)
    method = getattr(client, xform_name(operation))
    try:
        answer = method(**params)
    except AWS_ERRORS as exc:
        return from_exception(service, operation, exc)
    answer.pop("ResponseMetadata", None)
    return _plain(answer)


def paginate(account: Account, service: str, region: str, operation: str, key: str, **params: Any) -> Fact:
    """Every page of a paginated call, the items under `key` joined; or the first ApiError."""
    client = account.client(service, region)
    items: list[Any] = []
    try:
        for page in client.get_paginator(xform_name(operation)).paginate(**params):
            items.extend(page.get(key, []))
    except AWS_ERRORS as exc:
        return from_exception(service, operation, exc)
    return _plain(items)


def collect_region(account: Account, region: str, audited: list[str]) -> RegionFacts:
    """Gather one region: trails (shadow trails included), Config recorder, status and delivery channel.

    Per-trail facts are gathered here for the trails whose home region this is, and, for trails homed in a
    region outside `audited`, by the first audited region, so that each trail is judged once, by ARN.
    """
    facts = RegionFacts(account=account.id, region=region)
    with ThreadPoolExecutor(_REGION_THREADS, thread_name_prefix=f"ta-{region}") as pool:
        trails = pool.submit(call, account, "cloudtrail", region, "DescribeTrails", includeShadowTrails=True)
        recorders = pool.submit(_recorders, account, region)
        channels = pool.submit(call, account, "config", region, "DescribeDeliveryChannels")
        answer = trails.result()
        facts.trails = answer if isinstance(answer, ApiError) else answer.get("trailList", [])
        pending: list[tuple[TrailFacts, list[Future[Any]]]] = []
        if not isinstance(facts.trails, ApiError):
            for trail in facts.trails:
                if _gathered_here(trail, region, audited):
                    tf = TrailFacts(arn=trail["TrailARN"], home_region=trail.get("HomeRegion", region), trail=trail)
                    pending.append((tf, _submit_trail(pool, account, tf)))
        for tf, futures in pending:
            tf.status, tf.selectors, tf.bucket, tf.alarm = (f.result() for f in futures)
            facts.trail_facts.append(tf)
        facts.recorders, facts.recorder_statuses = recorders.result()
        facts.channels = _unwrap(channels.result(), "DeliveryChannels")
    return facts


def _recorders(account: Account, region: str) -> tuple[Fact, Fact]:
    """The Config recorders of a region and, when there are any, their status (most regions have none)."""
    recorders = _unwrap(call(account, "config", region, "DescribeConfigurationRecorders"), "ConfigurationRecorders")
    if not recorders or isinstance(recorders, ApiError):
        return recorders, []
    statuses = call(account, "config", region, "DescribeConfigurationRecorderStatus")
    return recorders, _unwrap(statuses, "ConfigurationRecordersStatus")


def _gathered_here(trail: dict[str, Any], region: str, audited: list[str]) -> bool:
    home = trail.get("HomeRegion", region)
    return home == region or (home not in audited and region == min(audited))


def _submit_trail(pool: ThreadPoolExecutor, account: Account, tf: TrailFacts) -> list[Future[Any]]:
    home, arn = tf.home_region, tf.arn
    jobs: list[Callable[[], Any]] = [
        lambda: call(account, "cloudtrail", home, "GetTrailStatus", Name=arn),
        lambda: call(account, "cloudtrail", home, "GetEventSelectors", TrailName=arn),
        lambda: _bucket(account, home, tf.trail.get("S3BucketName")),
        lambda: _alarm_chain(account, tf.trail),
    ]
    return [pool.submit(job) for job in jobs]


def _bucket(account: Account, region: str, bucket: str | None) -> Fact:
    if not bucket:
        return "unset"
    answer = call(account, "s3", region, "HeadBucket", Bucket=bucket)
    if not isinstance(answer, ApiError):
        return "exists"
    if answer.code in {"404", "NoSuchBucket", "NotFound"}:
        return "missing"
    if answer.code in {"403", "Forbidden", "AccessDenied"}:
        return "forbidden"
    return answer


def _alarm_chain(account: Account, trail: dict[str, Any]) -> Fact:
    """The CIS metric filters on the trail's log group and the alarms on their metrics.

    Only multi-region trails can satisfy the CIS control, so only their log groups are read.
    """
    group_arn = trail.get("CloudWatchLogsLogGroupArn")
    if not group_arn or not trail.get("IsMultiRegionTrail"):
        return None
    parts = group_arn.split(":")
    if len(parts) < 7:
        return ApiError("logs", "DescribeMetricFilters", "InvalidLogGroupArn", group_arn)
    region, group = parts[3], parts[6]
    filters = paginate(account, "logs", region, "DescribeMetricFilters", "metricFilters", logGroupName=group)
    if isinstance(filters, ApiError):
        return filters
    found: list[AlarmFacts] = []
    for mf in filters:
        pattern = mf.get("filterPattern", "")
        judged = judge_pattern(account, region, pattern)
        for transform in mf.get("metricTransformations", []):
            alarms: Fact = []
            if judged.complete:
                alarms = _alarms(account, region, transform["metricName"], transform["metricNamespace"])
                if isinstance(alarms, ApiError):
                    return alarms
            found.append(
                AlarmFacts(
                    mf["filterName"], pattern, transform["metricName"], transform["metricNamespace"], alarms, judged
                )
            )
    return found


def judge_pattern(account: Account, region: str, pattern: str) -> Match:
    """Which CIS events a filter pattern matches: AWS's own evaluator (`logs:TestMetricFilter`) on a CloudTrail
    log event of each, or, when that call is unavailable (denied, failing, or not offered, as in moto), the
    local evaluator; `evaluator` says which judged."""
    answer = call(account, "logs", region, "TestMetricFilter", attempts=1, filterPattern=pattern,
                  logEventMessages=[message(name) for name in CIS_EVENTS])  # fmt: skip
    if not isinstance(answer, ApiError):
        hits = {m.get("eventNumber") for m in answer.get("matches", [])}
        return Match(tuple(n for i, n in enumerate(CIS_EVENTS, 1) if i in hits), evaluator="logs:TestMetricFilter")
    if answer.code == "InvalidParameterException":
        return Match((), f"cannot evaluate this filter pattern: {answer.message}", "logs:TestMetricFilter")
    return dataclasses.replace(cis_match(pattern), evaluator=f"local evaluator (logs:TestMetricFilter: {answer.code})")


def _alarms(account: Account, region: str, metric: str, namespace: str) -> Fact:
    answer = call(account, "cloudwatch", region, "DescribeAlarmsForMetric", MetricName=metric, Namespace=namespace)
    if isinstance(answer, ApiError):
        return answer
    alarms = []
    for alarm in answer.get("MetricAlarms", []):
        topics: dict[str, Any] = {}
        for action in alarm.get("AlarmActions", []):
            if action.startswith("arn:aws:sns:") or ":sns:" in action:
                topics[action] = _subscribers(account, action)
        alarms.append({"name": alarm["AlarmName"], "enabled": alarm.get("ActionsEnabled", True) is not False,
                       "actions": alarm.get("AlarmActions", []), "topics": topics})  # fmt: skip
    return alarms


def _subscribers(account: Account, topic_arn: str) -> Fact:
    region = topic_arn.split(":")[3]
    subs = paginate(account, "sns", region, "ListSubscriptionsByTopic", "Subscriptions", TopicArn=topic_arn)
    if isinstance(subs, ApiError):
        return "missing" if subs.code in {"NotFound", "NotFoundException"} else subs
    return sum(1 for s in subs if s.get("SubscriptionArn") not in {"PendingConfirmation", "Deleted", None})


def _unwrap(answer: Fact, key: str) -> Fact:
    return answer if isinstance(answer, ApiError) else answer.get(key, [])


def _plain(value: Any) -> Any:
    """Responses with datetimes as ISO text, so facts and evidence are plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
