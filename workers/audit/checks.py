"""The check catalogue: a registry of pure functions from gathered facts to findings.

A check returns a `Verdict`; `evaluate` turns verdicts into findings with account, region, resource and
the remediation that applies. A check never sees an API answer it did not get: a missing answer is an
`ApiError`, and every check turns one into ERROR, not PASS.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from workers.audit.awserrors import ApiError
from workers.audit.findings import GLOBAL, Finding, Status
from workers.audit.inventory import AlarmFacts, RegionFacts, TrailFacts
from workers.audit.selectors import coverage


class Scope(enum.StrEnum):
    """What one finding of a check is about."""

    ACCOUNT = "account"
    TRAIL = "trail"
    REGION = "region"


@dataclass(frozen=True)
class Verdict:
    """A check's answer before it is placed: status, a human sentence, the evidence, and the fix."""

    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: str | None = None  # overrides the check's default fix (on FAIL only)
    resource: str | None = None  # overrides the resource (account checks that name a trail)


def error_verdict(error: ApiError, what: str = "") -> Verdict:
    """ERROR, naming the API error and the IAM action that was missing."""
    prefix = f"Could not verify {what}: " if what else "Could not verify: "
    return Verdict(Status.ERROR, prefix + error.sentence(), {"error": error.to_dict()})


@dataclass
class AccountFacts:
    """Everything gathered for one account, across the audited regions."""

    account: str
    regions: list[RegionFacts]

    def trails(self) -> list[TrailFacts]:
        """Every trail judged, once each, by ARN."""
        seen: dict[str, TrailFacts] = {}
        for region in self.regions:
            for tf in region.trail_facts:
                seen.setdefault(tf.arn, tf)
        return sorted(seen.values(), key=lambda t: t.arn)

    def enabled(self) -> list[RegionFacts]:
        """The regions that were enabled and so were gathered."""
        return [r for r in self.regions if r.enabled]

    def trail_list_errors(self) -> list[tuple[str, ApiError]]:
        """Regions whose DescribeTrails failed, with the error."""
        return [(r.region, r.trails) for r in self.enabled() if isinstance(r.trails, ApiError)]

    def owns(self, arn: str) -> bool:
        """True when the ARN belongs to this account."""
        parts = arn.split(":")
        return len(parts) > 4 and parts[4] == self.account


@dataclass(frozen=True)
class Check:
    """A registered check."""

    id: str
    scope: Scope
    title: str
    remediation: str | None
    func: Callable[..., Verdict]


CHECKS: dict[str, Check] = {}


def check(check_id: str, scope: Scope, title: str, remediation: str | None = None) -> Callable[..., Any]:
    """Register a check under its stable id."""

    def register(func: Callable[..., Verdict]) -> Callable[..., Verdict]:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id} is registered twice")
        CHECKS[check_id] = Check(check_id, scope, title, remediation, func)
        return func

    return register


def get_check(check_id: str) -> Check:
    """The check with this id; the error lists the valid ids."""
    try:
        return CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check {check_id!r}; valid checks: {', '.join(sorted(CHECKS))}") from None


# --- evaluation ----------------------------------------------------------------------------------------


def evaluate(facts: AccountFacts) -> list[Finding]:
    """Every registered check, on every trail, region or account it applies to."""
    findings: list[Finding] = []
    for chk in CHECKS.values():
        findings.extend(_run(chk, facts))
    return findings


def _run(chk: Check, facts: AccountFacts) -> Iterator[Finding]:
    if chk.scope is Scope.REGION:
        for region in facts.regions:
            if not region.enabled:
                yield _place(chk, facts, region.region, region.region, _skipped(region.region))
            else:
                yield _place(chk, facts, region.region, region.region, chk.func(region))
    elif chk.scope is Scope.TRAIL:
        for tf in facts.trails():
            verdict = chk.func(tf)
            owner = tf.arn.split(":")[4]
            if verdict.status is Status.FAIL and not facts.owns(tf.arn):
                verdict = Verdict(
                    verdict.status,
                    f"{verdict.detail} The trail belongs to account {owner} (an organization trail): fix it there.",
                    verdict.evidence,
                )
                yield _place(chk, facts, tf.home_region, tf.arn, verdict, fixable=False)
            else:
                yield _place(chk, facts, tf.home_region, tf.arn, verdict)
        for name, error in facts.trail_list_errors():
            yield _place(chk, facts, name, f"trails in {name}", error_verdict(error, "the trails"))
    elif not facts.enabled():
        yield _place(chk, facts, GLOBAL, facts.account, Verdict(Status.SKIPPED, "No audited region is enabled."))
    else:
        yield _place(chk, facts, GLOBAL, facts.account, chk.func(facts))


def _skipped(region: str) -> Verdict:
    return Verdict(Status.SKIPPED, f"Region {region} is not enabled for this account.")


def _place(
    chk: Check, facts: AccountFacts, region: str, resource: str, verdict: Verdict, fixable: bool = True
) -> Finding:
    fix = (verdict.remediation or chk.remediation) if verdict.status is Status.FAIL and fixable else None
    return Finding(
        check=chk.id,
        status=verdict.status,
        account=facts.account,
        region=region,
        resource=verdict.resource or resource,
        detail=verdict.detail,
        remediation=fix,
        evidence=verdict.evidence,
    )


def unreachable_account(account: str, resource: str, error: ApiError) -> list[Finding]:
    """ERROR findings, one per check, for an account that could not be reached."""
    verdict = error_verdict(error, f"account {account}")
    return [
        Finding(c.id, Status.ERROR, account, GLOBAL, resource, verdict.detail, None, verdict.evidence)
        for c in CHECKS.values()
    ]


# --- trail checks --------------------------------------------------------------------------------------


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
    """A bucket is set, HeadBucket is not 404, and GetTrailStatus shows no LatestDeliveryError."""
    bucket = tf.trail.get("S3BucketName")
    evidence: dict[str, Any] = {"S3BucketName": bucket}
    if tf.bucket == "unset":
        return Verdict(Status.FAIL, f"Trail {tf.name} has no S3 bucket: its logs are kept nowhere.", evidence)
    if isinstance(tf.bucket, ApiError):
        return error_verdict(tf.bucket, f"that bucket {bucket} exists")
    evidence["HeadBucket"] = tf.bucket
    if tf.bucket == "missing":
        return Verdict(Status.FAIL, f"Trail {tf.name} delivers to bucket {bucket}, which does not exist.", evidence)
    if isinstance(tf.status, ApiError):
        return error_verdict(tf.status, f"the delivery status of trail {tf.name}")
    error = tf.status.get("LatestDeliveryError")
    evidence["LatestDeliveryError"] = error
    evidence["LatestDeliveryTime"] = tf.status.get("LatestDeliveryTime")
    if error:
        return Verdict(Status.FAIL, f"Trail {tf.name} fails to deliver to bucket {bucket}: {error}.", evidence)
    note = " (the bucket is in another account or denies HeadBucket: 403)" if tf.bucket == "forbidden" else ""
    return Verdict(Status.PASS, f"Trail {tf.name} delivers to bucket {bucket} with no delivery error{note}.", evidence)


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


# --- region checks -------------------------------------------------------------------------------------


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


TRAIL_TYPE = "AWS::CloudTrail::Trail"


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


@check("config.delivery_channel", Scope.REGION, "Config delivery channel exists")
def delivery_channel(region: RegionFacts) -> Verdict:
    """A delivery channel exists."""
    if isinstance(region.channels, ApiError):
        return error_verdict(region.channels, "the Config delivery channel")
    names = [c.get("name") for c in region.channels]
    if names:
        return Verdict(Status.PASS, f"Config delivery channel {names[0]} exists.", {"DeliveryChannels": names})
    return Verdict(
        Status.FAIL,
        f"No AWS Config delivery channel exists in {region.region}: recorded changes are delivered nowhere.",
        {"DeliveryChannels": []},
    )


# --- account checks ------------------------------------------------------------------------------------


def _logging(tf: TrailFacts) -> bool | ApiError:
    return tf.status if isinstance(tf.status, ApiError) else tf.status.get("IsLogging") is True


@check(
    "cloudtrail.multiregion_management_logging",
    Scope.ACCOUNT,
    "A multi-region trail logs read and write management events",
    "cloudtrail.create_multiregion_trail",
)
def multiregion_management_logging(facts: AccountFacts) -> Verdict:
    """At least one multi-region trail (an organization trail counts) is logging all management events."""
    candidates = [tf for tf in facts.trails() if tf.trail.get("IsMultiRegionTrail")]
    reasons: list[str] = []
    errors: list[ApiError] = [e for _, e in facts.trail_list_errors()]
    for tf in candidates:
        logging = _logging(tf)
        if isinstance(logging, ApiError):
            errors.append(logging)
            continue
        if isinstance(tf.selectors, ApiError):
            errors.append(tf.selectors)
            continue
        cov = coverage(tf.selectors)
        if logging and cov.complete:
            return Verdict(
                Status.PASS,
                f"Multi-region trail {tf.name} is logging read and write management events.",
                {"TrailARN": tf.arn, "IsLogging": True, "selector_kind": cov.source},
                resource=tf.arn,
            )
        reasons.append(f"{tf.name} {'is logging' if logging else 'is not logging'} and captures {cov.sentence()}")
    if errors:
        return error_verdict(errors[0], "that a multi-region trail is logging")
    if not candidates:
        return Verdict(
            Status.FAIL,
            "No multi-region trail exists: activity in some regions may not be recorded.",
            {"multi_region_trails": []},
        )
    return Verdict(
        Status.FAIL,
        "No multi-region trail logs all management events: " + "; ".join(reasons) + ".",
        {"multi_region_trails": [tf.arn for tf in candidates]},
    )


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
        logging = _logging(tf)
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
        chain = _alarm_verdict(tf, tf.alarm)
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
class _Chain:
    """What one trail's alarm chain shows: a PASS, or the best reason it does not, and what kept us from knowing."""

    verdict: Verdict | None = None
    reason: str = ""
    errors: list[ApiError] = field(default_factory=list)
    doubts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _alarm_verdict(tf: TrailFacts, filters: list[AlarmFacts]) -> _Chain:
    group = tf.trail.get("CloudWatchLogsLogGroupArn")
    chain = _Chain(
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
                    return _Chain(Verdict(Status.PASS, sentence, evidence, resource=tf.arn))
                else:
                    chain.reason = (
                        f"Alarm {alarm['name']} notifies SNS topic {topic}, which has no confirmed subscriber."
                    )
    return chain
