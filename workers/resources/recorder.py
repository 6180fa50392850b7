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


def read_recorders(account: Account, region: str) -> tuple[Fact, Fact, Fact]:
    """The customer's Config recorders of a region and, when there are any, their status (most regions have
    none); and the service-linked recorders `ListConfigurationRecorders` names (the 2024 API: [] where it does
    not answer, for the describes alone are the customer's recording)."""
    recorders = unwrap(call(account, "config", region, "DescribeConfigurationRecorders"), "ConfigurationRecorders")
    listed = call(account, "config", region, "ListConfigurationRecorders", attempts=1)
    linked = [] if isinstance(listed, ApiError) else [r for r in listed.get("ConfigurationRecorderSummaries", [])
                                                       if service_linked(r)]  # fmt: skip
    if not recorders or isinstance(recorders, ApiError):
        return recorders, [], linked
    statuses = call(account, "config", region, "DescribeConfigurationRecorderStatus")
    return recorders, unwrap(statuses, "ConfigurationRecordersStatus"), linked


def service_linked(recorder: dict[str, Any]) -> bool:
    """A recorder an AWS service made for itself (`recordingScope` INTERNAL): it delivers nothing to the customer."""
    return str(recorder.get("recordingScope") or "").upper() == "INTERNAL" or bool(recorder.get("servicePrincipal"))


def trail_frequency(recorder: dict[str, Any]) -> str:
    """How often a recorder records AWS::CloudTrail::Trail: its override for the type, else its default
    frequency (CONTINUOUS when no recording mode is set, as AWS has it)."""
    mode = recorder.get("recordingMode") or {}
    for override in mode.get("recordingModeOverrides") or []:
        if TRAIL_TYPE in (override.get("resourceTypes") or []):
            return str(override.get("recordingFrequency") or "CONTINUOUS").upper()
    return str(mode.get("recordingFrequency") or "CONTINUOUS").upper()


def _recorder(account: Account, region: str) -> dict[str, Any] | None:
    recorders = read(account, "config", region, "DescribeConfigurationRecorders")["ConfigurationRecorders"]
    return recorders[0] if recorders else None


# --- checks ------------------------------------------------------------------------------------------------


@check("config.recorder_recording", Scope.REGION, "Config recorder is recording", "config.start_recorder")
def recorder_recording(region: RegionFacts) -> Verdict:
    """A recorder of the customer's exists, is recording, and its last status (in any case) is not FAILURE."""
    if isinstance(region.recorders, ApiError):
        return error_verdict(region.recorders, "the Config recorder")
    own = [r for r in region.recorders if not service_linked(r)]
    if not own:
        linked = [r.get("name") for r in [*region.recorders, *(region.linked_recorders or [])] if service_linked(r)]
        only = f" (only service-linked recorders, which deliver nothing to you: {', '.join(map(str, linked))})"
        return Verdict(
            Status.FAIL,
            f"No AWS Config recorder of yours exists in {region.region}{only if linked else ''}.",
            {"ConfigurationRecorders": [], "service_linked": linked},
            remediation="config.record_cloudtrail_trails",
        )
    if isinstance(region.recorder_statuses, ApiError):
        return error_verdict(region.recorder_statuses, "the Config recorder status")
    statuses = {s.get("name"): s for s in region.recorder_statuses}
    problems = [_recording(recorder, statuses.get(recorder.get("name"), {})) for recorder in own]
    passing = next((v for v in problems if v.status is Status.PASS), None)
    return passing or next((v for v in problems if v.status is Status.FAIL), problems[0])


def _recording(recorder: dict[str, Any], st: dict[str, Any]) -> Verdict:
    name = recorder.get("name")
    last = str(st.get("lastStatus") or "")
    evidence = {"name": name, "recording": st.get("recording"), "lastStatus": st.get("lastStatus"),
                "lastErrorCode": st.get("lastErrorCode")}  # fmt: skip
    if st.get("recording") is not True:
        return Verdict(Status.FAIL, f"Config recorder {name} is not recording.", evidence)
    if last.upper() == "FAILURE":
        code = st.get("lastErrorCode") or "no error code"
        return Verdict(Status.FAIL, f"Config recorder {name} is recording but its last status is FAILURE ({code}).",
                       evidence)  # fmt: skip
    if last.upper() in ("SUCCESS", "PENDING"):
        return Verdict(Status.PASS, f"Config recorder {name} is recording.", evidence)
    said = last or "not given"
    return Verdict(Status.ERROR, f"Could not verify that Config recorder {name} records: its last status is "
                                 f"{said}, which says neither success nor failure.", evidence)  # fmt: skip


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
    for recorder in [r for r in region.recorders if not service_linked(r)]:
        group = recorder.get("recordingGroup") or {"allSupported": True}
        evidence = {"name": recorder.get("name"), "recordingGroup": group,
                    "recordingMode": recorder.get("recordingMode")}  # fmt: skip
        if covers_trails(group) and trail_frequency(recorder) == "DAILY":
            return Verdict(Status.FAIL, f"Config recorder {recorder.get('name')} records {TRAIL_TYPE} only DAILY: "
                                        "changes between its daily snapshots are not recorded.", evidence)  # fmt: skip
        if covers_trails(group):
            return Verdict(Status.PASS, f"Config recorder {recorder.get('name')} records {TRAIL_TYPE} continuously.",
                           evidence)  # fmt: skip
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


def observe_recorders(acct: Account, region: str, trails: Fact = None) -> dict[str, Any]:
    """The region's recorders, by name: recording, whether they record trails, and the recorder itself."""
    recorders = call(acct, "config", region, "DescribeConfigurationRecorders")
    statuses = call(acct, "config", region, "DescribeConfigurationRecorderStatus")
    if isinstance(recorders, ApiError) or isinstance(statuses, ApiError):
        err = recorders if isinstance(recorders, ApiError) else statuses
        return {"error": err.sentence()}
    recording = {s.get("name"): bool(s.get("recording")) for s in statuses.get("ConfigurationRecordersStatus", [])}
    return {
        r["name"]: {"recording": recording.get(r["name"], False), "covers_trails": covers_trails(
            r.get("recordingGroup") or {}), "frequency": trail_frequency(r), "recorder": r}
        for r in recorders.get("ConfigurationRecorders", []) if not service_linked(r)
    }  # fmt: skip


def glance_recorders(
    acct: Account, region: str, known: dict[str, Any], observed: dict[str, Any]
) -> dict[str, Any] | None:
    """The known recorders with their recording read from their status alone (one call instead of two), or
    None when a known recorder has no status any more (it was deleted: read everything). A recorder made
    since the last full read is seen at the next one; a recording group changed meanwhile too."""
    statuses = call(acct, "config", region, "DescribeConfigurationRecorderStatus")
    if isinstance(statuses, ApiError):
        return {"error": statuses.sentence()}
    recording = {s.get("name"): bool(s.get("recording")) for s in statuses.get("ConfigurationRecordersStatus", [])}
    if any(name not in recording or "error" in item for name, item in known.items()):
        return None
    return {name: item | {"recording": recording[name]} for name, item in known.items()}


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
    if field in ("present", "narrowed", "frequency"):
        calls.append(ApiCall("config", region, "PutConfigurationRecorder", {"ConfigurationRecorder": recorder}))
    if snap.get("recording") and field in ("present", "recording"):
        calls.append(ApiCall("config", region, "StartConfigurationRecorder",
                             {"ConfigurationRecorderName": recorder["name"]}))  # fmt: skip
    return Plan(calls)


def _group(item: dict[str, Any]) -> Any:
    return item["recorder"].get("recordingGroup")


watch(
    Kind("recorder", "recorders", "Config recorder", observe_recorders, restore_recorder, glance=glance_recorders),
    Field("recorder", "present", "was deleted", ("DeleteConfigurationRecorder",), "config.recorder_recording"),
    Field("recorder", "recording", "stopped recording", ("StopConfigurationRecorder",), "config.recorder_recording"),
    Field("recorder", "frequency", "records CloudTrail trails only daily", ("PutConfigurationRecorder",),
          "config.records_cloudtrail_trails", value=lambda item: item.get("frequency", "CONTINUOUS"),
          regressed=lambda before, after: before != "DAILY" and after == "DAILY",
          from_call=lambda name, params, item: (trail_frequency(params["configurationRecorder"]),)
          if name == "PutConfigurationRecorder" and isinstance(params.get("configurationRecorder"), dict) else None),
    Field("recorder", "narrowed", "records fewer resource types", ("PutConfigurationRecorder",
          "DisassociateResourceTypes"), "config.records_cloudtrail_trails", value=_group,
          regressed=lambda before, after: narrower(before or {}, after or {}),
          recovered=lambda before, now: not narrower(before or {}, now or {})),
)  # fmt: skip


# --- fixes, backout and restore ----------------------------------------------------------------------------


@remediation(
    "config.record_cloudtrail_trails",
    "config.records_cloudtrail_trails",
    ("config:DescribeConfigurationRecorders", "config:PutConfigurationRecorder", "config:AssociateResourceTypes",
     "iam:PassRole"),
)  # fmt: skip
def record_cloudtrail_trails(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Record trails, continuously, with the smallest exact change: `AssociateResourceTypes` where the 2024 API
    gives the recorder an ARN and only the type is missing; otherwise the recorder put again with its group
    widened and a CONTINUOUS override for the type, keeping the rest of it, the role and the mode."""
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
    group = recorder.get("recordingGroup") or {}
    strategy = (group.get("recordingStrategy") or {}).get("useOnly")
    daily = trail_frequency(recorder) == "DAILY"
    if covers_trails(group) and not daily:
        return Plan([])
    if recorder.get("arn") and strategy == "INCLUSION_BY_RESOURCE_TYPES" and not daily:
        params = {"ConfigurationRecorderArn": recorder["arn"], "ResourceTypes": [TRAIL_TYPE]}
        return Plan([ApiCall("config", region, "AssociateResourceTypes", params)])
    wanted = _widened(recorder)
    _continuous(wanted)
    wanted = {k: v for k, v in wanted.items() if k in _PUT_KEYS}
    return Plan([ApiCall("config", region, "PutConfigurationRecorder", {"ConfigurationRecorder": wanted})])


_PUT_KEYS = ("name", "roleARN", "recordingGroup", "recordingMode")  # what PutConfigurationRecorder takes


def _widened(recorder: dict[str, Any]) -> dict[str, Any]:
    """The recorder with AWS::CloudTrail::Trail in its recording group (the rest kept)."""
    wanted = copy.deepcopy(recorder)
    group = wanted.setdefault("recordingGroup", {})
    strategy = (group.get("recordingStrategy") or {}).get("useOnly")
    if group.get("allSupported"):
        return wanted
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        excluded = group.setdefault("exclusionByResourceTypes", {}).setdefault("resourceTypes", [])
        if TRAIL_TYPE in excluded:
            excluded.remove(TRAIL_TYPE)
    elif TRAIL_TYPE not in group.setdefault("resourceTypes", []):
        group["resourceTypes"].append(TRAIL_TYPE)
        group.setdefault("recordingStrategy", {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"})
    return wanted


def _continuous(recorder: dict[str, Any]) -> None:
    """Make the recorder record AWS::CloudTrail::Trail continuously: the type leaves any DAILY override, and a
    CONTINUOUS override is added for it when the default frequency is DAILY."""
    if trail_frequency(recorder) != "DAILY":
        return
    mode = recorder.setdefault("recordingMode", {"recordingFrequency": "CONTINUOUS"})
    kept = []
    for override in mode.get("recordingModeOverrides") or []:
        types = [t for t in override.get("resourceTypes") or [] if t != TRAIL_TYPE]
        if types:
            kept.append({**override, "resourceTypes": types})
    mode["recordingModeOverrides"] = kept
    if str(mode.get("recordingFrequency") or "CONTINUOUS").upper() == "DAILY":
        kept.append({"description": "trail-audit: CloudTrail trails, continuously", "resourceTypes": [TRAIL_TYPE],
                     "recordingFrequency": "CONTINUOUS"})  # fmt: skip


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
