"""Remediations and backouts: a registry of named actions, each a plan of exact API calls.

A plan is computed from the current state (it reads, never writes), shown to the approver verbatim, and
executed call by call. Plans are idempotent: planned again after they ran, they make the same state (or
nothing). Each action names the IAM permissions it uses (`deploy/iam/remediation-policy.json` is their union,
checked by a test that records every call).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore import xform_name

from workers.audit.accounts import Account
from workers.audit.awserrors import AWS_ERRORS, ApiError, from_exception, iam_action
from workers.audit.inventory import call
from workers.core.catalogue import PlanError
from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings

TRAIL_TYPE = "AWS::CloudTrail::Trail"
TRAIL_NAME = "trail-audit-management"
FILTER_NAME = "trail-audit-cloudtrail-changes"
METRIC, NAMESPACE = "CloudTrailConfigChanges", "TrailAudit"
CIS_PATTERN = (
    "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
    "($.eventName = StartLogging) || ($.eventName = StopLogging) }"
)
MANAGEMENT_ALL = {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}


@dataclass(frozen=True)
class ApiCall:
    """One API call of a plan, exactly as it will be made."""

    service: str
    region: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """`cloudtrail:StartLogging {"Name": "..."} in us-east-1`."""
        return f"{iam_action(self.service, self.operation)} {json.dumps(self.params, sort_keys=True)} in {self.region}"


@dataclass(frozen=True)
class Plan:
    """What an action will do: its calls, and (for a backout) the snapshot to restore later."""

    calls: list[ApiCall]
    snapshot: dict[str, Any] | None = None
    basis: list[dict[str, Any]] | None = None  # a Restore's: the observed values it was planned against

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"calls": [asdict(c) for c in self.calls], "snapshot": self.snapshot, "basis": self.basis}

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> Plan:
        """The inverse of `to_dict`."""
        return Plan([ApiCall(**c) for c in doc["calls"]], doc.get("snapshot"), doc.get("basis"))


Planner = Callable[[Account, str, str, Settings], Plan]


@dataclass(frozen=True)
class Remediation:
    """A registered action: what it fixes, the permissions it uses, and how it plans."""

    id: str
    fixes: str | None  # the check it fixes (None for backouts and re-enable)
    permissions: tuple[str, ...]
    planner: Planner
    backout: bool = False


REMEDIATIONS: dict[str, Remediation] = {}


def remediation(
    action_id: str, fixes: str | None, permissions: tuple[str, ...], backout: bool = False
) -> Callable[[Planner], Planner]:
    """Register a planner under `action_id`."""

    def register(func: Planner) -> Planner:
        REMEDIATIONS[action_id] = Remediation(action_id, fixes, permissions, func, backout)
        return func

    return register


def get(action_id: str) -> Remediation:
    """The action named `action_id`; an unknown name lists the valid ones."""
    try:
        return REMEDIATIONS[action_id]
    except KeyError:
        raise PlanError(f"Unknown action {code(action_id)}. Valid: {', '.join(sorted(REMEDIATIONS))}.") from None


def for_check(check_id: str) -> Remediation:
    """The fix of a check; a check without one lists those that have one."""
    for rem in REMEDIATIONS.values():
        if rem.fixes == check_id:
            return rem
    fixable = sorted(r.fixes for r in REMEDIATIONS.values() if r.fixes)
    raise PlanError(f"No fix for {code(check_id)}. Checks with a fix: {', '.join(fixable)}.")


def plan(action_id: str, account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """The exact calls `action_id` would make now on `resource` (a trail ARN, or a region)."""
    return get(action_id).planner(account, region, resource, settings)


def execute(account: Account, planned: Plan) -> list[dict[str, Any]]:
    """Make the plan's calls in order; stop at the first error. Returns one result per call attempted."""
    results: list[dict[str, Any]] = []
    for c in planned.calls:
        client = account.client(c.service, c.region)
        try:
            answer = getattr(client, xform_name(c.operation))(**c.params)
        except AWS_ERRORS as exc:
            err = from_exception(c.service, c.operation, exc)
            results.append({"call": c.text(), "ok": False, "error": err.sentence()})
            break
        answer.pop("ResponseMetadata", None)
        results.append({"call": c.text(), "ok": True})
    return results


def _read(account: Account, service: str, region: str, operation: str, **params: Any) -> Any:
    answer = call(account, service, region, operation, **params)
    if isinstance(answer, ApiError):
        raise PlanError(answer.sentence())
    return answer


def trail_region(arn: str) -> str:
    """A trail ARN's home region."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "cloudtrail" or not parts[5].startswith("trail/"):
        raise PlanError(f"{code(arn[:120])} is not a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME).")
    return parts[3]


def selectors_of(account: Account, arn: str) -> dict[str, Any]:
    """A trail's selectors as `{"EventSelectors": [...], "AdvancedEventSelectors": [...]}` (the exact snapshot)."""
    answer = _read(account, "cloudtrail", trail_region(arn), "GetEventSelectors", TrailName=arn)
    return {
        "EventSelectors": answer.get("EventSelectors") or [],
        "AdvancedEventSelectors": answer.get("AdvancedEventSelectors") or [],
    }


def _is_management(selector: dict[str, Any]) -> bool:
    return any(
        f.get("Field") == "eventCategory" and "Management" in (f.get("Equals") or [])
        for f in selector.get("FieldSelectors", [])
    )


# --- CloudTrail ------------------------------------------------------------------------------------------


@remediation("cloudtrail.start_logging", "cloudtrail.trail_logging", ("cloudtrail:StartLogging",))
def start_logging(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """StartLogging in the trail's home region."""
    return Plan([ApiCall("cloudtrail", trail_region(resource), "StartLogging", {"Name": resource})])


@remediation(
    "cloudtrail.enable_management_events",
    "cloudtrail.trail_management_events",
    ("cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors"),
)
def enable_management_events(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Management events, read and write, from every source; every data-event selector kept as it is."""
    current = selectors_of(account, resource)
    home = trail_region(resource)
    if current["AdvancedEventSelectors"]:
        kept = [s for s in current["AdvancedEventSelectors"] if not _is_management(s)]
        wanted = [
            *kept,
            {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        ]
        if wanted == current["AdvancedEventSelectors"]:
            return Plan([])
        params = {"TrailName": resource, "AdvancedEventSelectors": wanted}
        return Plan([ApiCall("cloudtrail", home, "PutEventSelectors", params)])
    selectors = copy.deepcopy(current["EventSelectors"])
    for s in selectors:
        s["ExcludeManagementEventSources"] = []
        if s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "All":
            if s.get("DataResources"):
                s["IncludeManagementEvents"] = False  # its data events stay exactly as they were
            else:
                s["ReadWriteType"] = "All"
    if not any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") == "All" for s in selectors):
        selectors.append(dict(MANAGEMENT_ALL))
    if selectors == current["EventSelectors"]:
        return Plan([])
    return Plan(
        [ApiCall("cloudtrail", home, "PutEventSelectors", {"TrailName": resource, "EventSelectors": selectors})]
    )


@remediation(
    "cloudtrail.enable_log_file_validation", "cloudtrail.trail_log_file_validation", ("cloudtrail:UpdateTrail",)
)
def enable_log_file_validation(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """UpdateTrail(EnableLogFileValidation=True) in the trail's home region."""
    params = {"Name": resource, "EnableLogFileValidation": True}
    return Plan([ApiCall("cloudtrail", trail_region(resource), "UpdateTrail", params)])


@remediation(
    "cloudtrail.create_multiregion_trail",
    "cloudtrail.multiregion_management_logging",
    ("cloudtrail:DescribeTrails", "cloudtrail:CreateTrail", "cloudtrail:UpdateTrail", "cloudtrail:StartLogging"),
)
def create_multiregion_trail(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """A multi-region trail into the configured bucket, logging; an existing one of that name is made so."""
    if not settings.trail_bucket:
        raise PlanError("Set TRAIL_AUDIT_TRAIL_BUCKET (the S3 bucket a new trail delivers to) to use this fix.")
    home = settings.home_region
    listed = _read(account, "cloudtrail", home, "DescribeTrails", includeShadowTrails=False)["trailList"]
    trails = [t for t in listed if t.get("Name") == TRAIL_NAME]
    arn = f"arn:aws:cloudtrail:{home}:{account.id}:trail/{TRAIL_NAME}"
    calls = []
    if not trails:
        calls.append(
            ApiCall(
                "cloudtrail",
                home,
                "CreateTrail",
                {
                    "Name": TRAIL_NAME,
                    "S3BucketName": settings.trail_bucket,
                    "IsMultiRegionTrail": True,
                    "IncludeGlobalServiceEvents": True,
                    "EnableLogFileValidation": True,
                },
            )
        )
    elif not trails[0].get("IsMultiRegionTrail"):
        calls.append(
            ApiCall(
                "cloudtrail",
                home,
                "UpdateTrail",
                {"Name": arn, "IsMultiRegionTrail": True, "IncludeGlobalServiceEvents": True},
            )
        )
    calls.append(ApiCall("cloudtrail", home, "StartLogging", {"Name": arn}))
    return Plan(calls)


# --- AWS Config ------------------------------------------------------------------------------------------


def _recorder(account: Account, region: str) -> dict[str, Any] | None:
    recorders = _read(account, "config", region, "DescribeConfigurationRecorders")["ConfigurationRecorders"]
    return recorders[0] if recorders else None


@remediation(
    "config.record_cloudtrail_trails",
    "config.records_cloudtrail_trails",
    ("config:DescribeConfigurationRecorders", "config:PutConfigurationRecorder", "iam:PassRole"),
)
def record_cloudtrail_trails(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Widen the recording group to cover trails, keeping the rest of it, the role and the mode."""
    recorder = _recorder(account, region)
    if recorder is None:
        if not settings.config_role_arn:
            raise PlanError(f"No Config recorder in {escape(region)}; set TRAIL_AUDIT_CONFIG_ROLE_ARN to create one.")
        recorder = {
            "name": "default",
            "roleARN": settings.config_role_arn,
            "recordingGroup": {
                "allSupported": False,
                "includeGlobalResourceTypes": False,
                "resourceTypes": [TRAIL_TYPE],
                "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"},
            },
        }
        return Plan([ApiCall("config", region, "PutConfigurationRecorder", {"ConfigurationRecorder": recorder})])
    wanted = copy.deepcopy(recorder)
    group = wanted.setdefault("recordingGroup", {})
    strategy = (group.get("recordingStrategy") or {}).get("useOnly")
    if group.get("allSupported"):
        return Plan([])
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        excluded = group.setdefault("exclusionByResourceTypes", {}).setdefault("resourceTypes", [])
        if TRAIL_TYPE in excluded:
            excluded.remove(TRAIL_TYPE)
    elif TRAIL_TYPE not in group.setdefault("resourceTypes", []):
        group["resourceTypes"].append(TRAIL_TYPE)
        group.setdefault("recordingStrategy", {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"})
    if wanted == recorder:
        return Plan([])
    return Plan([ApiCall("config", region, "PutConfigurationRecorder", {"ConfigurationRecorder": wanted})])


@remediation(
    "config.start_recorder",
    "config.recorder_recording",
    ("config:DescribeConfigurationRecorders", "config:DescribeDeliveryChannels", "config:StartConfigurationRecorder"),
)
def start_recorder(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """StartConfigurationRecorder (a delivery channel must exist)."""
    recorder = _recorder(account, region)
    if recorder is None:
        raise PlanError(f"No Config recorder in {escape(region)}: request config.record_cloudtrail_trails first.")
    if not _read(account, "config", region, "DescribeDeliveryChannels")["DeliveryChannels"]:
        raise PlanError(f"No Config delivery channel in {escape(region)}: a recorder cannot start without one.")
    params = {"ConfigurationRecorderName": recorder["name"]}
    return Plan([ApiCall("config", region, "StartConfigurationRecorder", params)])


# --- CloudWatch ------------------------------------------------------------------------------------------


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
def config_change_alarm(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """The CIS metric filter on a multi-region trail's log group, and an alarm on it to the configured topic."""
    if not settings.alarm_topic_arn:
        raise PlanError("Set TRAIL_AUDIT_ALARM_TOPIC_ARN (the SNS topic alarms notify) to use this fix.")
    trails = _read(account, "cloudtrail", settings.home_region, "DescribeTrails")["trailList"]
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
    filters = _read(account, "logs", home, "DescribeMetricFilters", logGroupName=group, filterNamePrefix=FILTER_NAME)
    if not any(f.get("filterPattern") == CIS_PATTERN for f in filters.get("metricFilters", [])):
        calls.append(ApiCall("logs", home, "PutMetricFilter", metric_filter))
    alarms = _read(account, "cloudwatch", home, "DescribeAlarms", AlarmNames=[FILTER_NAME]).get("MetricAlarms", [])
    if not any(a.get("AlarmActions") == [settings.alarm_topic_arn] and a.get("MetricName") == METRIC for a in alarms):
        calls.append(ApiCall("cloudwatch", home, "PutMetricAlarm", alarm))
    return Plan(calls)


# --- Waivers -----------------------------------------------------------------------------------------------


@remediation("waiver.accept", None, ())
def accept_waiver(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """A waiver makes no call: it is recorded in force when executed (`workers.remediation.waivers`)."""
    return Plan([])


# --- Backouts and re-enable --------------------------------------------------------------------------------


@remediation(
    "backout.management_events_off",
    None,
    ("cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors"),
    backout=True,
)
def management_events_off(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Management events off on a trail (data-event selectors kept); the exact selectors are the snapshot."""
    snapshot = selectors_of(account, resource)
    nothing = [{**MANAGEMENT_ALL, "IncludeManagementEvents": False}]
    if snapshot["AdvancedEventSelectors"]:
        kept = [s for s in snapshot["AdvancedEventSelectors"] if not _is_management(s)]
        key, value = ("AdvancedEventSelectors", kept) if kept else ("EventSelectors", nothing)
    else:
        selectors = [{**s, "IncludeManagementEvents": False} for s in snapshot["EventSelectors"]]
        key, value = "EventSelectors", selectors or nothing
    params = {"TrailName": resource, key: value}
    call_ = ApiCall("cloudtrail", trail_region(resource), "PutEventSelectors", params)
    return Plan([call_], snapshot={"kind": "selectors", "trail": resource, **snapshot})


@remediation(
    "backout.recorder_off",
    None,
    (
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
        "config:StopConfigurationRecorder",
    ),
    backout=True,
)
def recorder_off(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """StopConfigurationRecorder; the snapshot says whether it was recording."""
    recorder = _recorder(account, region)
    if recorder is None:
        raise PlanError(f"No Config recorder in {escape(region)}: there is nothing to stop.")
    statuses = _read(account, "config", region, "DescribeConfigurationRecorderStatus")
    recording = any(s.get("recording") for s in statuses["ConfigurationRecordersStatus"])
    params = {"ConfigurationRecorderName": recorder["name"]}
    snapshot = {"kind": "recorder", "region": region, "name": recorder["name"], "recording": recording}
    return Plan([ApiCall("config", region, "StopConfigurationRecorder", params)], snapshot=snapshot)


def reenable(snapshot: dict[str, Any]) -> Plan:
    """The calls that restore a backout's snapshot exactly (no approval needed: the safe direction)."""
    if snapshot["kind"] == "recorder":
        if not snapshot["recording"]:
            return Plan([])
        start = {"ConfigurationRecorderName": snapshot["name"]}
        return Plan([ApiCall("config", snapshot["region"], "StartConfigurationRecorder", start)])
    trail = snapshot["trail"]
    if snapshot["AdvancedEventSelectors"]:
        params: dict[str, Any] = {"TrailName": trail, "AdvancedEventSelectors": snapshot["AdvancedEventSelectors"]}
    else:  # never-set selectors mean AWS's default: all management events; it is set explicitly
        params = {"TrailName": trail, "EventSelectors": snapshot["EventSelectors"] or [dict(MANAGEMENT_ALL)]}
    return Plan([ApiCall("cloudtrail", trail_region(trail), "PutEventSelectors", params)])


REENABLE_PERMISSIONS = ("cloudtrail:PutEventSelectors", "config:StartConfigurationRecorder")


@remediation(
    "restore.last_known_good",
    None,
    ("cloudtrail:CreateTrail", "cloudtrail:PutEventSelectors", "cloudtrail:StartLogging", "cloudtrail:UpdateTrail",
     "config:PutConfigurationRecorder", "config:StartConfigurationRecorder", "config:PutDeliveryChannel",
     "iam:PassRole"),
)  # fmt: skip
def restore_last_known_good(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Planned from a tamper alert's last known good state (see `workers.drift.restore_plan`), not from here."""
    raise PlanError("A restore is requested from a tamper alert's Restore button, which carries its plan.")


# The check each action affects (re-checked after it runs), for the actions that fix none.
_AFFECTS = {
    "backout.management_events_off": "cloudtrail.trail_management_events",
    "backout.recorder_off": "config.recorder_recording",
}
ACCOUNT_CHECKS = {"cloudtrail.multiregion_management_logging", "cloudtrail.config_change_alarm"}


def affected_check(action_id: str) -> str | None:
    """The check to run again after `action_id`."""
    return get(action_id).fixes or _AFFECTS.get(action_id)


def on_trail(check: str | None) -> bool:
    """Whether a check's (a request's) resource is a trail (a name or an ARN), not a region or the account."""
    return (check or "").startswith("cloudtrail.trail_")
