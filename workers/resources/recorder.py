"""The AWS Config configuration recorder: how it is read, judged, watched and fixed.

Facts: `DescribeConfigurationRecorders` and their status. Checks: recording, and recording
`AWS::CloudTrail::Trail`. Watched: existence, recording, a recording group that records less. Fixes: widen the
recording group, start the recorder; the backout that stops it, and its exact restore.
"""

from __future__ import annotations

import copy
from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call, read, unwrap
from workers.aws.errors import ApiError
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import escape
from workers.core.settings import Settings
from workers.resources.actions import ApiCall, Plan, remediation, restores
from workers.resources.facts import RegionFacts
from workers.resources.findings import Status
from workers.resources.verdicts import Scope, Verdict, check, error_verdict
from workers.resources.watched import Field, Kind, watch

TRAIL_TYPE = "AWS::CloudTrail::Trail"


# --- facts -------------------------------------------------------------------------------------------------


def read_recorders(account: Account, region: str) -> tuple[Fact, Fact]:
    """The Config recorders of a region and, when there are any, their status (most regions have none)."""
    recorders = unwrap(call(account, "config", region, "DescribeConfigurationRecorders"), "ConfigurationRecorders")
    if not recorders or isinstance(recorders, ApiError):
        return recorders, []
    statuses = call(account, "config", region, "DescribeConfigurationRecorderStatus")
    return recorders, unwrap(statuses, "ConfigurationRecordersStatus")


def _recorder(account: Account, region: str) -> dict[str, Any] | None:
    recorders = read(account, "config", region, "DescribeConfigurationRecorders")["ConfigurationRecorders"]
    return recorders[0] if recorders else None


# --- checks ------------------------------------------------------------------------------------------------


@check("config.recorder_recording", Scope.REGION, "Config recorder is recording", "config.start_recorder")
def recorder_recording(region: RegionFacts) -> Verdict:
    """A recorder exists, is recording, and its last status is not FAILURE."""
    if isinstance(region.recorders, ApiError):
        return error_verdict(region.recorders, "the Config recorder")
    if not region.recorders:
        return Verdict(
            Status.FAIL,
            f"No AWS Config recorder exists in {region.region}.",
            {"ConfigurationRecorders": []},
            remediation="config.record_cloudtrail_trails",
        )
    if isinstance(region.recorder_statuses, ApiError):
        return error_verdict(region.recorder_statuses, "the Config recorder status")
    statuses = {s.get("name"): s for s in region.recorder_statuses}
    problems = []
    for recorder in region.recorders:
        st = statuses.get(recorder.get("name"), {})
        evidence = {
            "name": recorder.get("name"),
            "recording": st.get("recording"),
            "lastStatus": st.get("lastStatus"),
            "lastErrorCode": st.get("lastErrorCode"),
        }
        if st.get("recording") is True and st.get("lastStatus") != "FAILURE":
            return Verdict(Status.PASS, f"Config recorder {recorder.get('name')} is recording.", evidence)
        if st.get("recording") is not True:
            problems.append((f"Config recorder {recorder.get('name')} is not recording.", evidence))
        else:
            problems.append(
                (
                    f"Config recorder {recorder.get('name')} is recording but its last status is "
                    f"FAILURE ({st.get('lastErrorCode') or 'no error code'}).",
                    evidence,
                )
            )
    detail, evidence = problems[0]
    return Verdict(Status.FAIL, detail, evidence)


@check(
    "config.records_cloudtrail_trails",
    Scope.REGION,
    "Config records CloudTrail trails",
    "config.record_cloudtrail_trails",
)
def records_cloudtrail_trails(region: RegionFacts) -> Verdict:
    """The recording group covers AWS::CloudTrail::Trail: all supported, included, or not excluded."""
    if isinstance(region.recorders, ApiError):
        return error_verdict(region.recorders, "the Config recording group")
    if not region.recorders:
        return Verdict(
            Status.FAIL,
            f"No AWS Config recorder exists in {region.region}, so trail changes are not recorded.",
            {"ConfigurationRecorders": []},
        )
    for recorder in region.recorders:
        group = recorder.get("recordingGroup") or {"allSupported": True}
        evidence = {"name": recorder.get("name"), "recordingGroup": group}
        if covers_trails(group):
            return Verdict(Status.PASS, f"Config recorder {recorder.get('name')} records {TRAIL_TYPE}.", evidence)
    return Verdict(
        Status.FAIL,
        f"Config recorder {region.recorders[0].get('name')} does not record {TRAIL_TYPE}.",
        {"name": region.recorders[0].get("name"), "recordingGroup": region.recorders[0].get("recordingGroup")},
    )


def covers_trails(group: dict[str, Any]) -> bool:
    """Whether a recording group covers AWS::CloudTrail::Trail."""
    strategy = (group.get("recordingStrategy") or {}).get("useOnly")
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        excluded = (group.get("exclusionByResourceTypes") or {}).get("resourceTypes") or []
        return TRAIL_TYPE not in excluded
    if group.get("allSupported") is True:
        return True
    return TRAIL_TYPE in (group.get("resourceTypes") or [])



# --- watched -----------------------------------------------------------------------------------------------


def observe_recorders(acct: Account, region: str) -> dict[str, Any]:
    """The region's recorders, by name: recording, whether they record trails, and the recorder itself."""
    recorders = call(acct, "config", region, "DescribeConfigurationRecorders")
    statuses = call(acct, "config", region, "DescribeConfigurationRecorderStatus")
    if isinstance(recorders, ApiError) or isinstance(statuses, ApiError):
        err = recorders if isinstance(recorders, ApiError) else statuses
        return {"error": err.sentence()}
    recording = {s.get("name"): bool(s.get("recording")) for s in statuses.get("ConfigurationRecordersStatus", [])}
    return {
        r["name"]: {"recording": recording.get(r["name"], False), "covers_trails": covers_trails(
            r.get("recordingGroup") or {}), "recorder": r}
        for r in recorders.get("ConfigurationRecorders", [])
    }  # fmt: skip


def narrower(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a recording group records less than before (trails dropped, all-supported lost, types removed)."""
    if covers_trails(before) and not covers_trails(after):
        return True
    if before.get("allSupported") and not after.get("allSupported"):
        return True
    if set(before.get("resourceTypes") or []) - set(after.get("resourceTypes") or []):
        return not after.get("allSupported")
    excluded = lambda g: set((g.get("exclusionByResourceTypes") or {}).get("resourceTypes") or [])  # noqa: E731
    return bool(excluded(after) - excluded(before))



def restore_recorder(region: str, name: str, field: str, snap: dict[str, Any]) -> Plan:
    """The calls that put a recorder back as it was: put its recorder again, start it if it was recording."""
    recorder = snap["recorder"]
    calls = []
    if field in ("present", "narrowed"):
        calls.append(ApiCall("config", region, "PutConfigurationRecorder", {"ConfigurationRecorder": recorder}))
    if snap.get("recording") and field in ("present", "recording"):
        calls.append(ApiCall("config", region, "StartConfigurationRecorder",
                             {"ConfigurationRecorderName": recorder["name"]}))  # fmt: skip
    return Plan(calls)


def _group(item: dict[str, Any]) -> Any:
    return item["recorder"].get("recordingGroup")


watch(
    Kind("recorder", "recorders", "Config recorder", observe_recorders, restore_recorder),
    Field("recorder", "present", "was deleted", ("DeleteConfigurationRecorder",), "config.recorder_recording"),
    Field("recorder", "recording", "stopped recording", ("StopConfigurationRecorder",), "config.recorder_recording"),
    Field("recorder", "narrowed", "records fewer resource types", ("PutConfigurationRecorder",),
          "config.records_cloudtrail_trails", value=_group,
          regressed=lambda before, after: narrower(before or {}, after or {}),
          recovered=lambda before, now: not narrower(before or {}, now or {})),
)  # fmt: skip


# --- fixes, backout and restore ----------------------------------------------------------------------------


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
    if not read(account, "config", region, "DescribeDeliveryChannels")["DeliveryChannels"]:
        raise PlanError(f"No Config delivery channel in {escape(region)}: a recorder cannot start without one.")
    params = {"ConfigurationRecorderName": recorder["name"]}
    return Plan([ApiCall("config", region, "StartConfigurationRecorder", params)])


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
    statuses = read(account, "config", region, "DescribeConfigurationRecorderStatus")
    recording = any(s.get("recording") for s in statuses["ConfigurationRecordersStatus"])
    params = {"ConfigurationRecorderName": recorder["name"]}
    snapshot = {"kind": "recorder", "region": region, "name": recorder["name"], "recording": recording}
    return Plan([ApiCall("config", region, "StopConfigurationRecorder", params)], snapshot=snapshot)



@restores("recorder")
def restore_recording(snapshot: dict[str, Any]) -> Plan:
    """StartConfigurationRecorder when the recorder was recording before the backout (else nothing)."""
    if not snapshot["recording"]:
        return Plan([])
    start = {"ConfigurationRecorderName": snapshot["name"]}
    return Plan([ApiCall("config", snapshot["region"], "StartConfigurationRecorder", start)])
