"""The CIS alarm chain, watched: whether each multi-region trail's chain still alarms, and what a call on one of
its links does to it.

The chain is judged by `alarm.judge_chain`, as the audit judges it. The poller compares it every cycle; a pushed
call on a link (its metric filter, alarm or topic) is read against the chain's last known state: deleting or
narrowing the only whole filter, disabling or deleting its alarms, deleting its topic or its last subscription
breaks it, and the alert says which link. A Restore puts the filter and alarm back exactly (a deleted topic or
subscription cannot be).
"""

from __future__ import annotations

from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact
from workers.aws.errors import ApiError
from workers.resources.actions import ApiCall, Plan
from workers.resources.alarm import Chain, judge_chain, read_chain
from workers.resources.facts import AlarmFacts, TrailFacts
from workers.resources.filter_pattern import cis_match
from workers.resources.watched import Field, Kind, watch

ALARMS = "alarms on every trail change"  # a whole chain's watched value (a broken one's is why it broke)


def observe_chains(acct: Account, region: str, trails: Fact) -> dict[str, Any]:
    """The alarm chain of each multi-region trail homed here that sends its events to a log group, by trail
    ARN: whether it alarms, why not, the names in it (so that a call on one of them is known), and the filters
    and alarms that made it whole (what a Restore puts back). A chain that could not be judged is an error,
    never compared."""
    if isinstance(trails, ApiError):
        return {"error": trails.sentence()}
    out: dict[str, Any] = {}
    for t in trails.get("trailList", []):
        if t.get("HomeRegion") != region or not t.get("IsMultiRegionTrail") or not t.get("CloudWatchLogsLogGroupArn"):
            continue
        filters = read_chain(acct, t)
        if isinstance(filters, ApiError):
            out[t["TrailARN"]] = {"error": filters.sentence()}
            continue
        chain = judge_chain(TrailFacts(t["TrailARN"], region, t), filters or [])
        if chain.errors or chain.doubts:
            out[t["TrailARN"]] = {"error": chain.errors[0].sentence() if chain.errors else chain.doubts[0][0]}
            continue
        out[t["TrailARN"]] = _item(chain, filters or [])
    return out


def _item(chain: Chain, filters: list[AlarmFacts]) -> dict[str, Any]:
    whole = [mf for mf in filters if mf.judged.complete]
    alarms = [a for mf in whole for a in mf.alarms]
    names = {str(mf.definition.get("logGroupName")) for mf in filters} | {mf.filter_name for mf in filters}
    names |= {a["name"] for a in alarms} | {t for a in alarms for t in a["topics"]}
    return {
        "alerting": chain.verdict is not None,
        "state": chain.verdict.detail if chain.verdict is not None else chain.reason,
        "names": sorted(names),
        "filters": [mf.definition for mf in whole],
        "alarms": [a["definition"] for a in alarms if a.get("enabled", True)],
        "subscribers": {t: n for a in alarms for t, n in a["topics"].items() if isinstance(n, int)},
    }


def after_call(name: str, params: dict[str, Any], item: dict[str, Any]) -> tuple[Any] | None:
    """What a call on one of the chain's links leaves of a whole chain: still `ALARMS`, or why it broke."""
    if not item.get("alerting"):
        return None
    filters = [str(f.get("filterName")) for f in item.get("filters") or []]
    alarms = {str(a.get("AlarmName")): a for a in item.get("alarms") or []}
    if name in ("DeleteMetricFilter", "PutMetricFilter") and params.get("filterName") in filters:
        if name == "PutMetricFilter" and cis_match(str(params.get("filterPattern") or "")).complete:
            return None
        left = [f for f in filters if f != params.get("filterName")]
        verb = "was deleted" if name == "DeleteMetricFilter" else "no longer matches all five trail changes"
        return None if left else (f"Metric filter {params.get('filterName')} {verb}.",)
    if name in ("DisableAlarmActions", "DeleteAlarms"):
        named = params.get("alarmNames")
        hit = [n for n in named if n in alarms] if isinstance(named, list) else []
        verb = "has its actions disabled: it notifies nobody" if name == "DisableAlarmActions" else "was deleted"
        return (f"Alarm {hit[0]} {verb}.",) if hit and set(alarms) <= set(hit) else None
    if name == "PutMetricAlarm" and params.get("alarmName") in alarms:
        return _alarm_put(params, alarms, item)
    topics = {t: n for t, n in (item.get("subscribers") or {}).items() if n}
    if name == "DeleteTopic" and params.get("topicArn") in topics and len(topics) == 1:
        return (f"SNS topic {params['topicArn']} was deleted.",)
    topic = str(params.get("subscriptionArn") or "").rsplit(":", 1)[0]
    if name == "Unsubscribe" and list(topics) == [topic] and topics[topic] == 1:
        return (f"The last subscription of SNS topic {topic} was removed.",)
    return None


def _alarm_put(params: dict[str, Any], alarms: dict[str, dict[str, Any]], item: dict[str, Any]) -> tuple[Any] | None:
    """An alarm of the chain put again: the chain holds while another of its alarms does, or while this one
    still watches the same metric, with its actions on, notifying a topic that has a subscriber."""
    name = str(params.get("alarmName"))
    was = alarms[name]
    notifies = set(params.get("alarmActions") or []) & {t for t, n in (item.get("subscribers") or {}).items() if n}
    same = (params.get("metricName"), params.get("namespace")) == (was.get("MetricName"), was.get("Namespace"))
    if params.get("actionsEnabled", True) is not False and notifies and same:
        return (ALARMS,)
    if len(alarms) > 1:
        return None
    why = "no longer watches the filter's metric" if not same else (
        "has its actions disabled" if params.get("actionsEnabled") is False else "no longer notifies a subscriber")
    return (f"Alarm {name} was put again and {why}.",)


def restore_chain(region: str, trail: str, field: str, snap: dict[str, Any]) -> Plan:
    """The metric filters and alarms that made the chain whole, put back exactly as they were (a deleted topic
    or subscription cannot be: the alert's state says which link broke)."""
    calls = [ApiCall("logs", region, "PutMetricFilter", dict(f)) for f in snap.get("filters") or []]
    calls += [ApiCall("cloudwatch", region, "PutMetricAlarm", dict(a)) for a in snap.get("alarms") or []]
    return Plan(calls)


watch(
    Kind("alarm", "chains", "The CloudTrail change alarm of trail", observe_chains, restore_chain,
         absent_is_deleted=False),
    Field("alarm", "alerting", "no longer alarms on CloudTrail changes",
          ("DeleteMetricFilter", "PutMetricFilter", "DeleteAlarms", "DisableAlarmActions", "PutMetricAlarm",
           "DeleteTopic", "Unsubscribe"), "cloudtrail.config_change_alarm",
          value=lambda item: ALARMS if item.get("alerting") else item.get("state"),
          regressed=lambda before, after: before == ALARMS and after != ALARMS,
          recovered=lambda before, now: now == ALARMS, from_call=after_call),
)  # fmt: skip
