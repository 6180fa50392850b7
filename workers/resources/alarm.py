"""The CIS alarm chain (CIS AWS Foundations 4.5): the trail's log group, its metric filter, the alarm on the
filter's metric and the SNS topic it notifies: how it is read, judged and fixed.

Facts: `DescribeMetricFilters` on a multi-region trail's log group, each pattern judged by AWS's own evaluator
(`TestMetricFilter`) or the local one, `DescribeAlarmsForMetric`, `ListSubscriptionsByTopic`. Check:
`cloudtrail.config_change_alarm`. Fix: the CIS metric filter and an alarm on the configured topic.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call, paginate, read
from workers.aws.errors import ApiError
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings
from workers.resources.actions import ApiCall, Plan, remediation
from workers.resources.facts import AccountFacts, AlarmFacts, TrailFacts
from workers.resources.filter_pattern import CIS_EVENTS, Match, cis_match, message
from workers.resources.findings import Status
from workers.resources.selectors import coverage
from workers.resources.trail import is_logging
from workers.resources.verdicts import Scope, Verdict, check, error_verdict

FILTER_NAME = "trail-audit-cloudtrail-changes"
METRIC, NAMESPACE = "CloudTrailConfigChanges", "TrailAudit"
CIS_PATTERN = (
    "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
    "($.eventName = StartLogging) || ($.eventName = StopLogging) }"
)

# what PutMetricAlarm takes of an alarm DescribeAlarmsForMetric returns (a Restore puts the alarm back as it was)
_ALARM_KEYS = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
               "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions",
               "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
               "TreatMissingData", "EvaluateLowSampleCountPercentile")  # fmt: skip

# --- facts -------------------------------------------------------------------------------------------------


def read_chain(account: Account, trail: dict[str, Any]) -> Fact:
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
            definition = {"logGroupName": group, "filterName": mf["filterName"], "filterPattern": pattern,
                          "metricTransformations": mf.get("metricTransformations", [])}  # fmt: skip
            found.append(AlarmFacts(mf["filterName"], pattern, transform["metricName"], transform["metricNamespace"],
                                    alarms, judged, definition))  # fmt: skip
    return found


_JUDGED: OrderedDict[str, tuple[float, Match]] = OrderedDict()  # pattern -> (when, how it was judged)
_JUDGED_LOCK = threading.Lock()
JUDGED_FOR = 3600  # seconds a pattern's judgement is kept (a filter's pattern is re-judged when it changes)
JUDGED_KEEP = 1024


def judge_pattern(account: Account, region: str, pattern: str) -> Match:
    """Which CIS events a filter pattern matches: AWS's own evaluator (`logs:TestMetricFilter`) on a CloudTrail
    log event of each, or, when that call is unavailable (denied, failing, or not offered, as in moto), the
    local evaluator; `evaluator` says which judged.

    A pattern's judgement depends on the pattern alone, so the process keeps it for an hour (the monitor reads
    the same chain every cycle): a changed pattern is judged at once, the same one again an hour later."""
    with _JUDGED_LOCK:
        kept = _JUDGED.get(pattern)
    if kept is not None and time.monotonic() - kept[0] < JUDGED_FOR:
        return kept[1]
    judged = _judge(account, region, pattern)
    with _JUDGED_LOCK:
        _JUDGED[pattern] = (time.monotonic(), judged)
        _JUDGED.move_to_end(pattern)
        while len(_JUDGED) > JUDGED_KEEP:
            _JUDGED.popitem(last=False)
    return judged


def forget_judgements() -> None:
    """Judge every pattern again (tests that give the same pattern another answer)."""
    with _JUDGED_LOCK:
        _JUDGED.clear()


def _judge(account: Account, region: str, pattern: str) -> Match:
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
                topics[action] = subscribers(account, action)
        alarms.append({"name": alarm["AlarmName"], "enabled": alarm.get("ActionsEnabled", True) is not False,
                       "actions": alarm.get("AlarmActions", []), "topics": topics,
                       "definition": {k: alarm[k] for k in _ALARM_KEYS if alarm.get(k) not in (None, [])}})  # fmt: skip
    return alarms


def subscribers(account: Account, topic_arn: str) -> Fact:
    """How many confirmed subscribers a topic has, "missing" when it no longer exists, or the ApiError."""
    region = topic_arn.split(":")[3]
    subs = paginate(account, "sns", region, "ListSubscriptionsByTopic", "Subscriptions", TopicArn=topic_arn)
    if isinstance(subs, ApiError):
        return "missing" if subs.code in {"NotFound", "NotFoundException"} else subs
    return sum(1 for s in subs if s.get("SubscriptionArn") not in {"PendingConfirmation", "Deleted", None})



# --- check -------------------------------------------------------------------------------------------------


@check(
    "cloudtrail.config_change_alarm",
    Scope.ACCOUNT,
    "CloudTrail configuration changes raise an alarm",
    "cloudwatch.config_change_alarm",
)
def config_change_alarm(facts: AccountFacts) -> Verdict:
    """CIS 4.5: a multi-region, logging trail that captures all management events sends them to a log group
    with a metric filter on all five trail changes, an alarm with its actions enabled on that metric, and an
    SNS topic that exists and has a confirmed subscriber."""
    errors: list[ApiError] = [e for _, e in facts.trail_list_errors()]
    doubts: list[tuple[str, dict[str, Any]]] = []
    best = "No multi-region trail that is logging sends its events to CloudWatch Logs."
    for tf in facts.trails():
        if not tf.trail.get("IsMultiRegionTrail"):
            continue
        logging = is_logging(tf)
        if isinstance(logging, ApiError):
            errors.append(logging)
            continue
        if not logging or tf.alarm is None:
            continue
        if isinstance(tf.selectors, ApiError):
            errors.append(tf.selectors)
            continue
        captured = coverage(tf.selectors)
        if not captured.complete:
            best = (f"Trail {tf.name} sends its events to CloudWatch Logs but captures {captured.sentence()}: the "
                    "five trail changes are write management events, so they never reach its log group.")  # fmt: skip
            continue
        if isinstance(tf.alarm, ApiError):
            errors.append(tf.alarm)
            continue
        chain = judge_chain(tf, tf.alarm)
        if chain.verdict is not None:
            return chain.verdict
        errors.extend(chain.errors)
        doubts.extend(chain.doubts)
        best = chain.reason
    if errors:
        return error_verdict(errors[0], "the CloudTrail change alarm")
    if doubts:
        sentence, evidence = doubts[0]
        return Verdict(Status.ERROR, f"Could not verify the CloudTrail change alarm: {sentence}", evidence)
    return Verdict(Status.FAIL, best, {})


@dataclass
class Chain:
    """What one trail's alarm chain shows: a PASS, or the best reason it does not, and what kept us from knowing."""

    verdict: Verdict | None = None
    reason: str = ""
    errors: list[ApiError] = field(default_factory=list)
    doubts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def judge_chain(tf: TrailFacts, filters: list[AlarmFacts]) -> Chain:
    """One trail's chain judged link by link: its PASS, or the best reason it does not pass."""
    group = tf.trail.get("CloudWatchLogsLogGroupArn")
    chain = Chain(
        reason=f"Log group of trail {tf.name} has no metric filter matching CreateTrail, UpdateTrail, DeleteTrail, "
        "StartLogging and StopLogging."
    )
    for mf in filters:
        if mf.judged.error:
            chain.doubts.append((f"metric filter {mf.filter_name}: {mf.judged.error}.",
                                 {"filterName": mf.filter_name, "filterPattern": mf.pattern,
                                  "evaluator": mf.judged.evaluator}))  # fmt: skip
        elif not mf.judged.complete:
            chain.reason = (f"Metric filter {mf.filter_name} on the log group of trail {tf.name} does not match "
                            f"{', '.join(mf.judged.missing)} (judged by the {mf.judged.evaluator}).")  # fmt: skip
    complete = [mf for mf in filters if mf.judged.complete]
    if complete:
        chain.reason = f"Metric filter {complete[0].filter_name} has no alarm on its metric {complete[0].metric}."
    for mf in complete:
        for alarm in mf.alarms:
            if not alarm.get("enabled", True):
                chain.reason = (
                    f"Alarm {alarm['name']} on metric {mf.metric} has its actions disabled: it notifies nobody."
                )
                continue
            if not alarm["topics"]:
                chain.reason = f"Alarm {alarm['name']} on metric {mf.metric} has no SNS action."
            for topic, subscribers in alarm["topics"].items():
                if isinstance(subscribers, ApiError):
                    chain.errors.append(subscribers)
                elif subscribers == "missing":
                    chain.reason = f"Alarm {alarm['name']} notifies SNS topic {topic}, which no longer exists."
                elif subscribers > 0:
                    evidence = {
                        "TrailARN": tf.arn,
                        "logGroup": group,
                        "filterName": mf.filter_name,
                        "filterPattern": mf.pattern,
                        "evaluator": mf.judged.evaluator,
                        "metric": f"{mf.namespace}/{mf.metric}",
                        "alarm": alarm["name"],
                        "topic": topic,
                        "subscribers": subscribers,
                    }
                    sentence = f"Alarm {alarm['name']} fires on CloudTrail configuration changes and notifies {topic}."
                    return Chain(Verdict(Status.PASS, sentence, evidence, resource=tf.arn))
                else:
                    chain.reason = (
                        f"Alarm {alarm['name']} notifies SNS topic {topic}, which has no confirmed subscriber."
                    )
    return chain



# --- fix ---------------------------------------------------------------------------------------------------


@remediation(
    "cloudwatch.config_change_alarm",
    "cloudtrail.config_change_alarm",
    (
        "cloudtrail:DescribeTrails",
        "logs:DescribeMetricFilters",
        "logs:PutMetricFilter",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
    ),
)
def add_config_change_alarm(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """The CIS metric filter on a multi-region trail's log group, and an alarm on it to the configured topic."""
    if not settings.alarm_topic_arn:
        raise PlanError("Set TRAIL_AUDIT_ALARM_TOPIC_ARN (the SNS topic alarms notify) to use this fix.")
    trails = read(account, "cloudtrail", settings.home_region, "DescribeTrails")["trailList"]
    found = [t for t in trails if t.get("IsMultiRegionTrail") and t.get("CloudWatchLogsLogGroupArn")]
    if not found:
        raise PlanError("No multi-region trail delivers to CloudWatch Logs: give one a log group first.")
    trail = found[0]
    group_arn = trail["CloudWatchLogsLogGroupArn"]
    group, home = group_arn.split(":log-group:")[1].split(":")[0], group_arn.split(":")[3]
    metric_filter = {
        "logGroupName": group,
        "filterName": FILTER_NAME,
        "filterPattern": CIS_PATTERN,
        "metricTransformations": [{"metricName": METRIC, "metricNamespace": NAMESPACE, "metricValue": "1"}],
    }
    alarm = {
        "AlarmName": FILTER_NAME,
        "MetricName": METRIC,
        "Namespace": NAMESPACE,
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [settings.alarm_topic_arn],
    }
    calls = []
    filters = read(account, "logs", home, "DescribeMetricFilters", logGroupName=group, filterNamePrefix=FILTER_NAME)
    if not any(f.get("filterPattern") == CIS_PATTERN for f in filters.get("metricFilters", [])):
        calls.append(ApiCall("logs", home, "PutMetricFilter", metric_filter))
    alarms = read(account, "cloudwatch", home, "DescribeAlarms", AlarmNames=[FILTER_NAME]).get("MetricAlarms", [])
    if not any(a.get("AlarmActions") == [settings.alarm_topic_arn] and a.get("MetricName") == METRIC for a in alarms):
        calls.append(ApiCall("cloudwatch", home, "PutMetricAlarm", alarm))
    return Plan(calls)

