"""The state that matters, observed per region, and how it drifted since the last observation.

Pure where it can be: `observe` reads AWS; `regressions`, `recovered`, `restore_plan`, `attribute` and
`correlate` are functions of plain data, tested directly. A part of the state that could not be read (an API
error) is never compared: the last known value stands, so an error is never mistaken for a deletion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workers.audit.accounts import Account
from workers.audit.awserrors import ApiError, iam_action
from workers.audit.checks import covers_trails
from workers.audit.inventory import call
from workers.audit.selectors import coverage
from workers.monitor.lookup import ChangeEvent
from workers.remediation.registry import MANAGEMENT_ALL, ApiCall, Plan

TRAIL_CONFIG_KEYS = ("Name", "S3BucketName", "S3KeyPrefix", "IsMultiRegionTrail", "IncludeGlobalServiceEvents",
                     "EnableLogFileValidation", "CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "KmsKeyId",
                     "SnsTopicName")  # fmt: skip


@dataclass(frozen=True)
class Field:
    """A watched property: the good value's opposite is a regression, with its title and the events behind it."""

    kind: str  # "trail", "recorder" or "channel"
    name: str
    title: str  # "{what} stopped logging"
    events: tuple[str, ...]
    check: str  # re-checked after a restore


FIELDS = {(f.kind, f.name): f for f in (
    Field("trail", "present", "was deleted", ("DeleteTrail",), "cloudtrail.trail_logging"),
    Field("trail", "logging", "stopped logging", ("StopLogging",), "cloudtrail.trail_logging"),
    Field("trail", "management", "no longer records all management events", ("PutEventSelectors",),
          "cloudtrail.trail_management_events"),
    Field("trail", "multi_region", "is no longer multi-region", ("UpdateTrail",),
          "cloudtrail.multiregion_management_logging"),
    Field("trail", "validation", "had log file validation turned off", ("UpdateTrail",),
          "cloudtrail.trail_log_file_validation"),
    Field("trail", "bucket", "delivers to a different S3 bucket", ("UpdateTrail",), "cloudtrail.trail_s3_delivery"),
    Field("recorder", "present", "was deleted", ("DeleteConfigurationRecorder",), "config.recorder_recording"),
    Field("recorder", "recording", "stopped recording", ("StopConfigurationRecorder",), "config.recorder_recording"),
    Field("recorder", "narrowed", "records fewer resource types", ("PutConfigurationRecorder",),
          "config.records_cloudtrail_trails"),
    Field("channel", "present", "was deleted", ("DeleteDeliveryChannel",), "config.delivery_channel"),
)}  # fmt: skip


def field_of(kind: str, name: str) -> Field:
    """The watched field `name` of a `kind` of resource."""
    return FIELDS[(kind, name)]


@dataclass(frozen=True)
class Change:
    """A regression (or a recovery) of one field of one resource."""

    account: str
    region: str
    kind: str
    resource: str  # trail ARN, recorder or channel name
    field: str
    before: Any
    after: Any
    snapshot: dict[str, Any]  # the resource's last known good state (what Restore puts back)

    @property
    def key(self) -> str:
        """Identity of the alert: one per account, region, resource and field."""
        return f"{self.account}|{self.region}|{self.kind}|{self.resource}|{self.field}"

    def sentence(self) -> str:
        """`Trail app-audit stopped logging`."""
        name = self.resource.rsplit("/", 1)[-1]
        what = {"trail": f"Trail {name}", "recorder": f"Config recorder {name}", "channel": f"Delivery channel {name}"}
        return f"{what[self.kind]} {field_of(self.kind, self.field).title}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


# --- observing ---------------------------------------------------------------------------------------------


def observe(acct: Account, region: str) -> dict[str, Any]:
    """The region's trails (homed here), recorders and delivery channels; a part that failed holds its error."""
    state: dict[str, Any] = {}
    trails = call(acct, "cloudtrail", region, "DescribeTrails", includeShadowTrails=False)
    if isinstance(trails, ApiError):
        state["trails"] = {"error": trails.sentence()}
    else:
        state["trails"] = {
            t["TrailARN"]: _trail(acct, region, t) for t in trails.get("trailList", []) if t.get("HomeRegion") == region
        }
    recorders = call(acct, "config", region, "DescribeConfigurationRecorders")
    statuses = call(acct, "config", region, "DescribeConfigurationRecorderStatus")
    if isinstance(recorders, ApiError) or isinstance(statuses, ApiError):
        err = recorders if isinstance(recorders, ApiError) else statuses
        state["recorders"] = {"error": err.sentence()}
    else:
        recording = {s.get("name"): bool(s.get("recording")) for s in statuses.get("ConfigurationRecordersStatus", [])}
        state["recorders"] = {
            r["name"]: {"recording": recording.get(r["name"], False), "covers_trails": covers_trails(
                r.get("recordingGroup") or {}), "recorder": r}
            for r in recorders.get("ConfigurationRecorders", [])
        }  # fmt: skip
    channels = call(acct, "config", region, "DescribeDeliveryChannels")
    if isinstance(channels, ApiError):
        state["channels"] = {"error": channels.sentence()}
    else:
        state["channels"] = {c["name"]: {"channel": c} for c in channels.get("DeliveryChannels", [])}
    return state


def _trail(acct: Account, region: str, t: dict[str, Any]) -> dict[str, Any]:
    arn = t["TrailARN"]
    status = call(acct, "cloudtrail", region, "GetTrailStatus", Name=arn)
    selectors = call(acct, "cloudtrail", region, "GetEventSelectors", TrailName=arn)
    if isinstance(status, ApiError) or isinstance(selectors, ApiError):
        err = status if isinstance(status, ApiError) else selectors
        return {"error": err.sentence()}
    kept = {k: selectors.get(k) or [] for k in ("EventSelectors", "AdvancedEventSelectors")}
    return {
        "logging": bool(status.get("IsLogging")),
        "multi_region": bool(t.get("IsMultiRegionTrail")),
        "management": coverage(selectors).complete,
        "validation": bool(t.get("LogFileValidationEnabled")),
        "bucket": t.get("S3BucketName"),
        "selectors": kept,
        "config": {k: t[k] for k in TRAIL_CONFIG_KEYS if t.get(k) is not None and k != "EnableLogFileValidation"}
        | {"EnableLogFileValidation": bool(t.get("LogFileValidationEnabled"))},
    }


def unreadable(observed: dict[str, Any]) -> list[str]:
    """Why parts of an observation could not be read (empty when all was read)."""
    out = [items["error"] for items in observed.values() if "error" in items]
    out += [v["error"] for items in observed.values() if "error" not in items for v in items.values() if "error" in v]
    return out


def merge(previous: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """The state to keep: what was read now, and the last known value of whatever could not be read."""
    merged: dict[str, Any] = {}
    for part, items in now.items():
        old = (previous or {}).get(part) or {}
        if "error" in items:
            merged[part] = {k: v for k, v in old.items() if k != "error"}
            continue
        merged[part] = {name: (old.get(name, {}) if "error" in value else value) for name, value in items.items()}
    return merged


# --- comparing ---------------------------------------------------------------------------------------------

_KIND = {"trails": "trail", "recorders": "recorder", "channels": "channel"}
_GOOD = {"logging": True, "multi_region": True, "management": True, "validation": True, "recording": True}


def regressions(account: str, region: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every field that got worse between two observations (parts that could not be read are skipped)."""
    out: list[Change] = []
    for part, kind in _KIND.items():
        old, new = before.get(part) or {}, after.get(part) or {}
        if "error" in old or "error" in new:
            continue
        for name, was in old.items():
            if "error" in was:
                continue
            now = new.get(name)
            if now is None:
                out.append(Change(account, region, kind, name, "present", "present", "missing", was))
                continue
            if "error" in now:
                continue
            out.extend(_fields(account, region, kind, name, was, now))
    return out


def _fields(account: str, region: str, kind: str, name: str, was: dict[str, Any], now: dict[str, Any]) -> list[Change]:
    out = []
    for key, good in _GOOD.items():
        if key in was and was[key] is good and now.get(key) is not good:
            out.append(Change(account, region, kind, name, key, was[key], now.get(key), was))
    if kind == "trail" and was.get("bucket") != now.get("bucket"):
        out.append(Change(account, region, kind, name, "bucket", was.get("bucket"), now.get("bucket"), was))
    if kind == "recorder" and narrower(was["recorder"].get("recordingGroup") or {},
                                       now["recorder"].get("recordingGroup") or {}):  # fmt: skip
        out.append(Change(account, region, kind, name, "narrowed", was["recorder"].get("recordingGroup"),
                          now["recorder"].get("recordingGroup"), was))  # fmt: skip
    return out


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


def recovered(alert: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether the field an alert is about is back to its last known good value."""
    part = next(p for p, k in _KIND.items() if k == alert["kind"])
    items = state.get(part) or {}
    if "error" in items:
        return False
    now = items.get(alert["resource"])
    if now is None or "error" in now:
        return False
    if alert["field"] == "present":
        return True
    if alert["field"] == "narrowed":
        group = now["recorder"].get("recordingGroup") or {}
        return not narrower(alert["before"] or {}, group)
    return bool(now.get(alert["field"]) == alert["before"])


# --- restoring, attributing, correlating ---------------------------------------------------------------------


def restore_plan(change: dict[str, Any]) -> Plan:
    """The calls that put a resource back to its last known good state (what an alert's Restore proposes)."""
    kind, field, region, snap, res = (
        change["kind"],
        change["field"],
        change["region"],
        change["snapshot"],
        change["resource"],
    )
    if kind == "trail":
        return _restore_trail(region, res, field, snap)
    if kind == "recorder":
        recorder = snap["recorder"]
        calls = []
        if field in ("present", "narrowed"):
            calls.append(ApiCall("config", region, "PutConfigurationRecorder", {"ConfigurationRecorder": recorder}))
        if snap.get("recording") and field in ("present", "recording"):
            calls.append(ApiCall("config", region, "StartConfigurationRecorder",
                                 {"ConfigurationRecorderName": recorder["name"]}))  # fmt: skip
        return Plan(calls)
    return Plan([ApiCall("config", region, "PutDeliveryChannel", {"DeliveryChannel": snap["channel"]})])


def permissions(plan: Plan) -> list[str]:
    """The IAM permissions a restore plan uses (a recorder's role is passed to Config: iam:PassRole)."""
    used = {iam_action(c.service, c.operation) for c in plan.calls}
    if "config:PutConfigurationRecorder" in used:
        used.add("iam:PassRole")
    return sorted(used)


def _restore_trail(region: str, arn: str, field: str, snap: dict[str, Any]) -> Plan:
    selectors = snap["selectors"]
    put_selectors = (
        {"TrailName": arn, "AdvancedEventSelectors": selectors["AdvancedEventSelectors"]}
        if selectors["AdvancedEventSelectors"]
        else {"TrailName": arn, "EventSelectors": selectors["EventSelectors"] or [dict(MANAGEMENT_ALL)]}
    )
    if field == "present":
        calls = [ApiCall("cloudtrail", region, "CreateTrail", dict(snap["config"])),
                 ApiCall("cloudtrail", region, "PutEventSelectors", put_selectors)]  # fmt: skip
        if snap.get("logging"):
            calls.append(ApiCall("cloudtrail", region, "StartLogging", {"Name": arn}))
        return Plan(calls)
    if field == "logging":
        return Plan([ApiCall("cloudtrail", region, "StartLogging", {"Name": arn})])
    if field == "management":
        return Plan([ApiCall("cloudtrail", region, "PutEventSelectors", put_selectors)])
    update = {"multi_region": {"IsMultiRegionTrail": snap["multi_region"]},
              "validation": {"EnableLogFileValidation": snap["validation"]},
              "bucket": {"S3BucketName": snap["bucket"]}}[field]  # fmt: skip
    return Plan([ApiCall("cloudtrail", region, "UpdateTrail", {"Name": arn, **update})])


def attribute(change: dict[str, Any], events: list[ChangeEvent]) -> ChangeEvent | None:
    """The newest successful watched call that explains a change (same event name, same resource)."""
    names = field_of(change["kind"], change["field"]).events
    target = change["resource"]
    short = target.rsplit("/", 1)[-1]
    for event in sorted(events, key=lambda e: e.time, reverse=True):
        if event.name not in names or event.failed:
            continue
        params = event.parameters or {}
        named = {str(params.get(k)) for k in ("name", "trailName", "configurationRecorderName",
                                              "deliveryChannelName") if params.get(k)}  # fmt: skip
        recorder = params.get("configurationRecorder") or {}
        if isinstance(recorder, dict) and recorder.get("name"):
            named.add(str(recorder["name"]))
        if target in named or short in named:
            return event
    return None


# The fields each executed action can change (None: any, for a restore of the last known good state).
ACTION_FIELDS: dict[str, set[str] | None] = {
    "cloudtrail.start_logging": {"logging"},
    "cloudtrail.enable_management_events": {"management"},
    "cloudtrail.enable_log_file_validation": {"validation"},
    "cloudtrail.create_multiregion_trail": {"present", "logging", "multi_region"},
    "config.record_cloudtrail_trails": {"present", "narrowed"},
    "config.start_recorder": {"recording"},
    "backout.management_events_off": {"management"},
    "backout.recorder_off": {"recording"},
    "reenable": {"management", "recording"},
    "restore.last_known_good": None,
}


def correlate(change: dict[str, Any], actions: list[dict[str, Any]], since: float) -> dict[str, Any] | None:
    """The executed trail-audit action (approved request) that explains a change, if any.

    An action matches when it acted on the same resource (same account and region), can change that field,
    and ran after the previous observation (`since`), the window in which the change happened.
    """
    for action in sorted(actions, key=lambda a: a["ended"], reverse=True):
        fields = ACTION_FIELDS.get(action["action"], set())
        if fields is not None and change["field"] not in fields:
            continue
        same_place = action["account"] == change["account"] and action["region"] == change["region"]
        same_resource = action["resource"] in (change["resource"], change["region"])
        if same_place and same_resource and action["ended"] >= since - 5:
            return action
    return None


def value_in(state: dict[str, Any], kind: str, resource: str, field: str) -> Any:
    """A watched field's value in an observation, as a `Change` records it (`missing` when the resource is
    gone; an unreadable part gives its error sentence, which never equals a recorded value)."""
    part = next(p for p, k in _KIND.items() if k == kind)
    items = state.get(part) or {}
    if "error" in items:
        return f"unreadable: {items['error']}"
    now = items.get(resource)
    if now is None:
        return "missing"
    if "error" in now:
        return f"unreadable: {now['error']}"
    if field == "present":
        return "present"
    if field == "narrowed":
        return now["recorder"].get("recordingGroup")
    return now.get(field)


def basis(change: dict[str, Any]) -> dict[str, Any]:
    """What a Restore is planned against: the changed field's value when the alert was raised."""
    return {k: change[k] for k in ("kind", "region", "resource", "field", "after")}


def current_value(acct: Account, basis_: dict[str, Any]) -> Any:
    """The field a Restore is planned against, observed now (to refuse a restore onto a changed state)."""
    observed = observe(acct, basis_["region"])
    return value_in(observed, basis_["kind"], basis_["resource"], basis_["field"])
