"""The CloudTrail trail: how it is read, judged, watched and fixed.

Facts: `DescribeTrails` (shadow trails included), `GetTrailStatus` and `GetEventSelectors` in the trail's home
region, `HeadBucket` on its bucket. Checks: logging, management events, S3 delivery, log file validation, and
the account's multi-region trail. Watched: existence, logging, multi-region, management events, validation,
bucket. Fixes: start logging, management events, validation, a multi-region trail; the backout that turns
management events off, and its exact restore.
"""

from __future__ import annotations

from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call, read
from workers.aws.errors import ApiError
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings
from workers.resources.actions import ApiCall, Plan, remediation
from workers.resources.arn import trail_region
from workers.resources.bucket import refused
from workers.resources.facts import AccountFacts, TrailFacts
from workers.resources.findings import Status
from workers.resources.key import unusable
from workers.resources.selectors import MANAGEMENT_ALL, coverage, from_request
from workers.resources.verdicts import Scope, Verdict, check, error_verdict
from workers.resources.watched import Field, Kind, watch

TRAIL_NAME = "trail-audit-management"
TRAIL_CONFIG_KEYS = ("Name", "S3BucketName", "S3KeyPrefix", "IsMultiRegionTrail", "IncludeGlobalServiceEvents",
                     "EnableLogFileValidation", "CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "KmsKeyId",
                     "SnsTopicName", "IsOrganizationTrail")  # fmt: skip


# --- facts -------------------------------------------------------------------------------------------------


def read_bucket(account: Account, region: str, bucket: str | None) -> Fact:
    """Whether the trail's bucket exists: "exists", "missing", "forbidden" (403), "unset", or the ApiError."""
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


# --- checks ------------------------------------------------------------------------------------------------


@check("cloudtrail.trail_logging", Scope.TRAIL, "Trail is logging", "cloudtrail.start_logging")
def trail_logging(tf: TrailFacts) -> Verdict:
    """GetTrailStatus says IsLogging, asked in the trail's home region."""
    if isinstance(tf.status, ApiError):
        return error_verdict(tf.status, f"whether trail {tf.name} is logging")
    evidence = {"IsLogging": tf.status.get("IsLogging"), "HomeRegion": tf.home_region}
    if tf.status.get("IsLogging") is True:
        return Verdict(Status.PASS, f"Trail {tf.name} is logging.", evidence)
    stopped = tf.status.get("StopLoggingTime")
    when = f" (stopped at {stopped})" if stopped else ""
    return Verdict(
        Status.FAIL,
        f"Trail {tf.name} is not logging{when}: no API activity is recorded by it.",
        {**evidence, "StopLoggingTime": stopped},
    )


@check(
    "cloudtrail.trail_management_events",
    Scope.TRAIL,
    "Trail records read and write management events",
    "cloudtrail.enable_management_events",
)
def trail_management_events(tf: TrailFacts) -> Verdict:
    """Basic or advanced selectors capture read and write management events, from every source."""
    if isinstance(tf.selectors, ApiError):
        return error_verdict(tf.selectors, f"the event selectors of trail {tf.name}")
    cov = coverage(tf.selectors)
    evidence = {
        "selector_kind": cov.source,
        "EventSelectors": tf.selectors.get("EventSelectors"),
        "AdvancedEventSelectors": tf.selectors.get("AdvancedEventSelectors"),
        "notes": list(cov.notes),
    }
    status = Status.PASS if cov.complete else Status.FAIL
    return Verdict(status, f"Trail {tf.name} captures {cov.sentence()}.", evidence)


@check("cloudtrail.trail_s3_delivery", Scope.TRAIL, "Trail delivers to an existing S3 bucket")
def trail_s3_delivery(tf: TrailFacts) -> Verdict:
    """The bucket exists and its policy lets CloudTrail write, the KMS key (if any) is enabled, and
    GetTrailStatus shows no LatestDeliveryError."""
    bucket = tf.trail.get("S3BucketName")
    evidence: dict[str, Any] = {"S3BucketName": bucket}
    if tf.bucket == "unset":
        return Verdict(Status.FAIL, f"Trail {tf.name} has no S3 bucket: its logs are kept nowhere.", evidence)
    if isinstance(tf.bucket, ApiError):
        return error_verdict(tf.bucket, f"that bucket {bucket} exists")
    evidence["HeadBucket"] = tf.bucket
    if tf.bucket == "missing":
        return Verdict(Status.FAIL, f"Trail {tf.name} delivers to bucket {bucket}, which does not exist.", evidence)
    blocked = _policy_or_key(tf, evidence)
    if blocked is not None:
        return blocked
    if isinstance(tf.status, ApiError):
        return error_verdict(tf.status, f"the delivery status of trail {tf.name}")
    error = tf.status.get("LatestDeliveryError")
    evidence["LatestDeliveryError"] = error
    evidence["LatestDeliveryTime"] = tf.status.get("LatestDeliveryTime")
    if error:
        return Verdict(Status.FAIL, f"Trail {tf.name} fails to deliver to bucket {bucket}: {error}.", evidence)
    note = " (the bucket is in another account or denies reading it: 403)" if tf.bucket == "forbidden" else ""
    return Verdict(Status.PASS, f"Trail {tf.name} delivers to bucket {bucket} with no delivery error{note}.", evidence)


def _policy_or_key(tf: TrailFacts, evidence: dict[str, Any]) -> Verdict | None:
    """FAIL when the bucket policy refuses CloudTrail or the KMS key is unusable, ERROR when either could not be
    read (a bucket of another account, which HeadBucket already found forbidden, is judged by its delivery)."""
    bucket = tf.trail.get("S3BucketName")
    if isinstance(tf.policy, ApiError) and not (tf.bucket == "forbidden" and tf.policy.access_denied):
        return error_verdict(tf.policy, f"that the policy of bucket {bucket} lets CloudTrail write")
    if isinstance(tf.policy, dict):
        refusal = refused(tf.policy, str(bucket), {**tf.trail, "TrailARN": tf.arn})
        org = " (an organization trail: only denies are judged)" if tf.trail.get("IsOrganizationTrail") else ""
        evidence["bucket_policy"] = refusal or f"allows CloudTrail{org}"
        if refusal:
            return Verdict(Status.FAIL, f"Trail {tf.name} cannot deliver to bucket {bucket}: {refusal}.", evidence)
    if tf.key is None:
        return None
    key = tf.trail.get("KmsKeyId")
    if isinstance(tf.key, ApiError):
        return error_verdict(tf.key, f"that KMS key {key} of trail {tf.name} is enabled")
    evidence["KeyState"] = tf.key.get("KeyState")
    why = unusable(tf.key)
    if why:
        return Verdict(Status.FAIL, f"Trail {tf.name} encrypts with KMS key {key}, which {why}: no log is "
                                    "written.", evidence)  # fmt: skip
    return None


@check(
    "cloudtrail.trail_log_file_validation",
    Scope.TRAIL,
    "Trail log file validation is enabled",
    "cloudtrail.enable_log_file_validation",
)
def trail_log_file_validation(tf: TrailFacts) -> Verdict:
    """LogFileValidationEnabled, as DescribeTrails reports it."""
    enabled = tf.trail.get("LogFileValidationEnabled")
    evidence = {"LogFileValidationEnabled": enabled}
    if enabled is True:
        return Verdict(Status.PASS, f"Trail {tf.name} has log file validation enabled.", evidence)
    return Verdict(
        Status.FAIL,
        f"Trail {tf.name} has log file validation disabled: tampering with its log files could go unnoticed.",
        evidence,
    )


def is_logging(tf: TrailFacts) -> bool | ApiError:
    """Whether GetTrailStatus says the trail is logging, or the error that kept us from knowing."""
    return tf.status if isinstance(tf.status, ApiError) else tf.status.get("IsLogging") is True


@check(
    "cloudtrail.multiregion_management_logging",
    Scope.ACCOUNT,
    "A multi-region trail logs read and write management events",
    "cloudtrail.create_multiregion_trail",
)
def multiregion_management_logging(facts: AccountFacts) -> Verdict:
    """At least one multi-region trail (an organization trail counts) is logging all management events and
    delivers them (its bucket exists and takes them, its key is enabled, no delivery error)."""
    candidates = [tf for tf in facts.trails() if tf.trail.get("IsMultiRegionTrail")]
    reasons: list[str] = []
    unknown = [error_verdict(e, "that a multi-region trail is logging") for _, e in facts.trail_list_errors()]
    for tf in candidates:
        logging = is_logging(tf)
        if isinstance(logging, ApiError) or isinstance(tf.selectors, ApiError):
            error = logging if isinstance(logging, ApiError) else tf.selectors
            unknown.append(error_verdict(error, "that a multi-region trail is logging"))
            continue
        cov = coverage(tf.selectors)
        delivery = trail_s3_delivery(tf) if logging and cov.complete else None
        if delivery is not None and delivery.status is Status.ERROR:
            unknown.append(delivery)
        elif delivery is not None and delivery.status is Status.PASS:
            return Verdict(
                Status.PASS,
                f"Multi-region trail {tf.name} is logging read and write management events, and delivers them.",
                {"TrailARN": tf.arn, "IsLogging": True, "selector_kind": cov.source},
                resource=tf.arn,
            )
        doing = f"{tf.name} {'is logging' if logging else 'is not logging'} and captures {cov.sentence()}"
        reasons.append(doing + (f", but: {delivery.detail.rstrip('.')}" if delivery is not None else ""))
    if unknown:
        return unknown[0]
    if not candidates:
        return Verdict(
            Status.FAIL,
            "No multi-region trail exists: activity in some regions may not be recorded.",
            {"multi_region_trails": []},
        )
    return Verdict(
        Status.FAIL,
        "No multi-region trail logs and delivers all management events: " + "; ".join(reasons) + ".",
        {"multi_region_trails": [tf.arn for tf in candidates]},
    )


# --- watched -----------------------------------------------------------------------------------------------


def observe_trails(acct: Account, region: str, trails: Fact) -> dict[str, Any]:
    """The trails homed in this region, by ARN, with their watched fields and last known good snapshot."""
    if isinstance(trails, ApiError):
        return {"error": trails.sentence()}
    homed = [t for t in trails.get("trailList", []) if t.get("HomeRegion") == region]
    return {t["TrailARN"]: _observed(acct, region, t) for t in homed}


def _observed(acct: Account, region: str, t: dict[str, Any]) -> dict[str, Any]:
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


def restore_trail(region: str, arn: str, field: str, snap: dict[str, Any]) -> Plan:
    """The calls that put a trail's field back to its snapshot (a deleted trail is created again as it was)."""
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
    config = snap.get("config") or {}
    logs = {k: config.get(k) for k in ("CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn")}
    update = {"multi_region": {"IsMultiRegionTrail": snap["multi_region"]},
              "validation": {"EnableLogFileValidation": snap["validation"]},
              "bucket": {"S3BucketName": snap["bucket"]},
              "log_group": logs}[field]  # fmt: skip
    return Plan([ApiCall("cloudtrail", region, "UpdateTrail", {"Name": arn, **update})])


def _changed(before: Any, after: Any) -> bool:
    return bool(before != after)


def _updated(key: str) -> Any:
    """An UpdateTrail parameter as the value a call sets (CloudTrail records the request in camelCase)."""

    def read(name: str, params: dict[str, Any], item: dict[str, Any]) -> tuple[Any] | None:
        return (params[key],) if name == "UpdateTrail" and key in params else None

    return read


def _selected(name: str, params: dict[str, Any], item: dict[str, Any]) -> tuple[Any] | None:
    return (coverage(from_request(params)).complete,) if name == "PutEventSelectors" else None


watch(
    Kind("trail", "trails", "Trail", observe_trails, restore_trail),
    Field("trail", "present", "was deleted", ("DeleteTrail",), "cloudtrail.trail_logging"),
    Field("trail", "logging", "stopped logging", ("StopLogging",), "cloudtrail.trail_logging"),
    Field("trail", "multi_region", "is no longer multi-region", ("UpdateTrail",),
          "cloudtrail.multiregion_management_logging", from_call=_updated("isMultiRegionTrail")),
    Field("trail", "management", "no longer records all management events", ("PutEventSelectors",),
          "cloudtrail.trail_management_events", from_call=_selected),
    Field("trail", "validation", "had log file validation turned off", ("UpdateTrail",),
          "cloudtrail.trail_log_file_validation", from_call=_updated("enableLogFileValidation")),
    Field("trail", "bucket", "delivers to a different S3 bucket", ("UpdateTrail",), "cloudtrail.trail_s3_delivery",
          regressed=_changed, from_call=_updated("s3BucketName")),
    Field("trail", "log_group", "no longer sends its events to its CloudWatch Logs group", ("UpdateTrail",),
          "cloudtrail.config_change_alarm", value=lambda item: (item.get("config") or {}).get(
              "CloudWatchLogsLogGroupArn"), regressed=lambda before, after: bool(before) and after != before,
          from_call=_updated("cloudWatchLogsLogGroupArn")),
)  # fmt: skip


# --- fixes, backout and restore ----------------------------------------------------------------------------


@remediation("cloudtrail.start_logging", "cloudtrail.trail_logging", ("cloudtrail:StartLogging",))
def start_logging(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """StartLogging in the trail's home region."""
    return Plan([ApiCall("cloudtrail", trail_region(resource), "StartLogging", {"Name": resource})])


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
    listed = read(account, "cloudtrail", home, "DescribeTrails", includeShadowTrails=False)["trailList"]
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


