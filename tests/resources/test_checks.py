"""Every check's PASS, FAIL and ERROR on states seeded in a moto server, judged through the real engine."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from demo.fake_account import ACCOUNT, CIS_PATTERN, HOME, FakeAccount, compliant
from tests.helpers.faults import Faults
from workers.audit.engine import run_audit
from workers.core.settings import Settings
from workers.resources.facts import AccountFacts, RegionFacts, TrailFacts
from workers.resources.findings import Finding, Status
from workers.resources.verdicts import evaluate

REGIONS = ["us-east-1", "eu-west-1"]


def audit(settings: Settings, regions: list[str] = REGIONS) -> list[Finding]:
    return run_audit(settings, regions=regions).findings


def only(findings: list[Finding], check: str, resource: str | None = None, region: str | None = None) -> Finding:
    found = [
        f
        for f in findings
        if f.check == check and (resource is None or f.resource == resource) and (region is None or f.region == region)
    ]
    assert len(found) == 1, f"expected one {check} finding, got {found}"
    return found[0]


def test_compliant_account_passes_everything(settings: Settings) -> None:
    compliant(REGIONS)
    findings = audit(settings)
    assert {f.status for f in findings} == {Status.PASS}, [f for f in findings if f.status != Status.PASS]
    assert len({f.check for f in findings}) == 10
    assert all(f.remediation is None for f in findings)


def test_empty_account_fails_without_inventing_passes(settings: Settings) -> None:
    findings = audit(settings)
    assert only(findings, "cloudtrail.multiregion_management_logging").status is Status.FAIL
    assert only(findings, "cloudtrail.config_change_alarm").status is Status.FAIL
    assert not [f for f in findings if f.check.startswith("cloudtrail.trail_")]
    recorder = only(findings, "config.recorder_recording", region="eu-west-1")
    assert recorder.status is Status.FAIL and recorder.remediation == "config.record_cloudtrail_trails"
    assert {f.status for f in findings} == {Status.FAIL}


# --- trail logging ---------------------------------------------------------------------------------------


def test_stopped_trail_fails_logging_and_offers_start_logging(settings: Settings) -> None:
    acct = compliant(REGIONS)
    acct.client("cloudtrail").stop_logging(Name=acct.trails["management"])
    findings = audit(settings)
    f = only(findings, "cloudtrail.trail_logging")
    assert (f.status, f.remediation, f.resource) == (Status.FAIL, "cloudtrail.start_logging", acct.trails["management"])
    assert f.evidence["IsLogging"] is False
    assert only(findings, "cloudtrail.multiregion_management_logging").status is Status.FAIL
    assert only(findings, "cloudtrail.config_change_alarm").status is Status.FAIL


def test_shadow_trail_is_judged_once_in_its_home_region(settings: Settings, faults: Callable[..., Faults]) -> None:
    acct = compliant(["us-east-1", "eu-west-1", "ap-south-1"])
    injector = faults()
    findings = audit(settings, ["us-east-1", "eu-west-1", "ap-south-1"])
    logging = [f for f in findings if f.check == "cloudtrail.trail_logging"]
    assert [(f.resource, f.region) for f in logging] == [(acct.trails["management"], "us-east-1")]
    assert injector.attempts["cloudtrail:GetTrailStatus"] == 1
    assert injector.attempts["cloudtrail:DescribeTrails"] == 3


def test_trail_homed_outside_the_audited_regions_is_still_judged(settings: Settings) -> None:
    acct = compliant(["eu-west-1"])
    findings = audit(settings, ["eu-west-1", "ap-south-1"])
    f = only(findings, "cloudtrail.trail_logging")
    assert (f.resource, f.region, f.status) == (acct.trails["management"], "us-east-1", Status.PASS)


# --- management events -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "status"),
    [
        ([{"ReadWriteType": "All", "IncludeManagementEvents": True}], Status.PASS),
        ([{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}], Status.FAIL),
        ([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}], Status.FAIL),
        (
            [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": False,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}],
                }
            ],
            Status.FAIL,
        ),
    ],
)
def test_basic_selectors(settings: Settings, selectors: list[dict[str, object]], status: Status) -> None:
    acct = compliant(REGIONS)
    acct.client("cloudtrail").put_event_selectors(TrailName=acct.trails["management"], EventSelectors=selectors)
    f = only(audit(settings), "cloudtrail.trail_management_events")
    assert f.status is status
    assert f.evidence["selector_kind"] == "basic"
    assert (f.remediation == "cloudtrail.enable_management_events") is (status is Status.FAIL)


def test_read_only_trail_names_the_missing_writes(settings: Settings) -> None:
    acct = compliant(REGIONS)
    acct.client("cloudtrail").put_event_selectors(
        TrailName=acct.trails["management"],
        EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}],
    )
    findings = audit(settings)
    assert "changes (writes) are not recorded" in only(findings, "cloudtrail.trail_management_events").detail
    assert only(findings, "cloudtrail.multiregion_management_logging").status is Status.FAIL


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ([{"Field": "eventCategory", "Equals": ["Management"]}], Status.PASS),
        (
            [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["true"]}],
            Status.FAIL,
        ),
        (
            [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}],
            Status.FAIL,
        ),
        (
            [
                {"Field": "eventCategory", "Equals": ["Management"]},
                {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
            ],
            Status.FAIL,
        ),
        (
            [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            ],
            Status.FAIL,
        ),
    ],
)
def test_advanced_selectors(settings: Settings, fields: list[dict[str, object]], status: Status) -> None:
    acct = compliant(REGIONS)
    acct.client("cloudtrail").put_event_selectors(
        TrailName=acct.trails["management"], AdvancedEventSelectors=[{"Name": "s", "FieldSelectors": fields}]
    )
    f = only(audit(settings), "cloudtrail.trail_management_events")
    assert f.status is status, f.detail
    assert f.evidence["selector_kind"] == "advanced"


def test_never_set_selectors_mean_the_aws_default(settings: Settings) -> None:
    compliant(REGIONS)  # moto returns no selectors for a trail whose selectors were never set
    f = only(audit(settings), "cloudtrail.trail_management_events")
    assert f.status is Status.PASS and f.evidence["selector_kind"] == "default"


# --- S3 delivery -----------------------------------------------------------------------------------------


def test_trail_to_a_deleted_bucket_fails(settings: Settings) -> None:
    acct = compliant(REGIONS)
    acct.bucket("bucket-that-was-deleted")
    acct.trail("orphan", multi_region=False, bucket="bucket-that-was-deleted")
    acct.client("s3").delete_bucket(Bucket="bucket-that-was-deleted")
    f = only(audit(settings), "cloudtrail.trail_s3_delivery", resource=acct.trails["orphan"])
    assert f.status is Status.FAIL and "does not exist" in f.detail and f.evidence["HeadBucket"] == "missing"


def test_bucket_403_in_another_account_is_not_a_failure(settings: Settings, faults: Callable[..., Faults]) -> None:
    compliant(REGIONS)
    faults(deny={"s3:HeadBucket"})
    f = only(audit(settings), "cloudtrail.trail_s3_delivery")
    assert f.status is Status.PASS and "403" in f.detail


def test_latest_delivery_error_fails() -> None:
    tf = TrailFacts(
        "arn:aws:cloudtrail:us-east-1:123456789012:trail/t",
        "us-east-1",
        {"Name": "t", "S3BucketName": "b", "IsMultiRegionTrail": False},
        status={"IsLogging": True, "LatestDeliveryError": "AccessDenied"},
        selectors={},
        bucket="forbidden",
    )
    facts = AccountFacts(
        ACCOUNT,
        [
            RegionFacts(
                ACCOUNT,
                "us-east-1",
                trails=[tf.trail],
                trail_facts=[tf],
                recorders=[],
                recorder_statuses=[],
                channels=[],
            )
        ],
    )
    f = only(evaluate(facts), "cloudtrail.trail_s3_delivery")
    assert f.status is Status.FAIL and "AccessDenied" in f.detail


# --- log file validation ---------------------------------------------------------------------------------


def test_validation_disabled_fails(settings: Settings) -> None:
    acct = compliant(REGIONS)
    acct.client("cloudtrail").update_trail(Name=acct.trails["management"], EnableLogFileValidation=False)
    f = only(audit(settings), "cloudtrail.trail_log_file_validation")
    assert f.status is Status.FAIL and f.remediation == "cloudtrail.enable_log_file_validation"


# --- organization trails ---------------------------------------------------------------------------------


ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail"


def org_trail_facts(logging: bool, validation: bool, seen_in: str) -> AccountFacts:
    """An organization trail of account 999999999999, seen from a member account in `seen_in`."""
    trail = {
        "Name": "org-trail", "TrailARN": ORG_TRAIL, "HomeRegion": "us-east-1", "IsMultiRegionTrail": True,
        "IsOrganizationTrail": True, "S3BucketName": "org-archive", "LogFileValidationEnabled": validation,
    }  # fmt: skip
    tf = TrailFacts(ORG_TRAIL, "us-east-1", trail, status={"IsLogging": logging}, selectors={}, bucket="forbidden")
    region = RegionFacts(ACCOUNT, seen_in, trails=[trail], trail_facts=[tf], recorders=[], recorder_statuses=[],
                         channels=[])  # fmt: skip
    return AccountFacts(ACCOUNT, [region])


def test_organization_trail_of_another_account_is_judged_without_a_fix() -> None:
    findings = evaluate(org_trail_facts(logging=False, validation=False, seen_in="us-east-1"))
    logging = only(findings, "cloudtrail.trail_logging")
    assert logging.status is Status.FAIL and logging.remediation is None and "999999999999" in logging.detail
    assert only(findings, "cloudtrail.trail_log_file_validation").remediation is None
    assert only(findings, "cloudtrail.trail_s3_delivery").status is Status.PASS


def test_organization_trail_that_logs_satisfies_multiregion() -> None:
    f = only(evaluate(org_trail_facts(logging=True, validation=True, seen_in="eu-west-1")),
             "cloudtrail.multiregion_management_logging")  # fmt: skip
    assert f.status is Status.PASS and f.resource == ORG_TRAIL


# --- the CIS alarm chain ---------------------------------------------------------------------------------


def _alarm_account(**kwargs: object) -> FakeAccount:
    acct = FakeAccount()
    acct.bucket()
    acct.trail("management", log_group="cloudtrail/management")
    acct.cis_alarm(**kwargs)  # type: ignore[arg-type]
    return acct


@pytest.mark.parametrize(
    "pattern",
    [
        CIS_PATTERN,
        '{($.eventName="StopLogging")||($.eventName="StartLogging")||($.eventName="DeleteTrail")||'
        '($.eventName="UpdateTrail")||($.eventName="CreateTrail")}',
        "{ $.eventSource = cloudtrail.amazonaws.com && ($.eventName = CreateTrail || $.eventName = UpdateTrail || "
        "$.eventName = DeleteTrail || $.eventName = StartLogging || $.eventName = StopLogging) }",
    ],
)
def test_cis_filter_variants_pass(settings: Settings, pattern: str) -> None:
    _alarm_account(pattern=pattern)
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.PASS, f.detail
    assert f.evidence["subscribers"] == 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"pattern": CIS_PATTERN.replace(" || ($.eventName = StopLogging)", "")}, "does not match StopLogging"),
        ({"with_alarm": False}, "has no alarm"),
        ({"subscribe": False}, "no confirmed subscriber"),
        ({"actions_enabled": False}, "has its actions disabled: it notifies nobody"),  # ActionsEnabled: false
        ({"topic_deleted": True}, "which no longer exists"),  # the topic answers NotFound: an answer, not an error
        ({"pattern": "{ $.eventName = Create*Trail || $.eventName = *Logging }"}, "does not match CreateTrail"),
    ],
)
def test_cis_alarm_chain_failures(settings: Settings, kwargs: dict[str, object], words: str) -> None:
    _alarm_account(**kwargs)
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.FAIL and words in f.detail, f.detail
    assert f.remediation == "cloudwatch.config_change_alarm"


def test_the_alarms_trail_must_capture_the_write_management_events(settings: Settings) -> None:
    """On moto state: the trail logs only read events, so the five changes never reach its log group."""
    acct = _alarm_account()
    read_only = [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]
    acct.client("cloudtrail").put_event_selectors(TrailName="management", EventSelectors=read_only)
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.FAIL and "never reach its log group" in f.detail, f.detail


def test_the_alarms_trail_selectors_unread_is_error(settings: Settings, faults: Callable[..., Faults]) -> None:
    _alarm_account()
    faults(deny={"cloudtrail:GetEventSelectors"})
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.ERROR and "cloudtrail:GetEventSelectors" in f.detail, f.detail


def test_a_pattern_nobody_can_evaluate_is_error(settings: Settings) -> None:
    """moto stores any pattern and has no TestMetricFilter: the local evaluator judges, and cannot read this."""
    _alarm_account(pattern="{ $.eventName = %(Create|Delete)Trail% }")
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.ERROR and "cannot evaluate this filter pattern" in f.detail, f.detail
    assert "local evaluator" in f.evidence["evaluator"]


def test_the_evidence_names_the_evaluator(settings: Settings) -> None:
    _alarm_account()
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.PASS and f.evidence["evaluator"].startswith("local evaluator (logs:TestMetricFilter")


def test_cis_alarm_unverifiable_is_error(settings: Settings, faults: Callable[..., Faults]) -> None:
    _alarm_account()
    faults(deny={"logs:DescribeMetricFilters"})
    f = only(audit(settings, [HOME]), "cloudtrail.config_change_alarm")
    assert f.status is Status.ERROR and "logs:DescribeMetricFilters" in f.detail


# --- AWS Config ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "status"),
    [
        ({"allSupported": True, "includeGlobalResourceTypes": False}, Status.PASS),
        (
            {
                "allSupported": False,
                "resourceTypes": ["AWS::CloudTrail::Trail", "AWS::S3::Bucket"],
                "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"},
            },
            Status.PASS,
        ),
        (
            {
                "allSupported": False,
                "resourceTypes": ["AWS::S3::Bucket"],
                "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"},
            },
            Status.FAIL,
        ),
        (
            {
                "allSupported": False,
                "exclusionByResourceTypes": {"resourceTypes": ["AWS::EC2::Instance"]},
                "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
            },
            Status.PASS,
        ),
        (
            {
                "allSupported": False,
                "exclusionByResourceTypes": {"resourceTypes": ["AWS::CloudTrail::Trail"]},
                "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
            },
            Status.FAIL,
        ),
    ],
)
def test_recording_groups(settings: Settings, group: dict[str, object], status: Status) -> None:
    FakeAccount().bucket()
    FakeAccount().recorder(HOME, group=group)
    f = only(audit(settings, [HOME]), "config.records_cloudtrail_trails")
    assert f.status is status, f.detail
    assert f.evidence["recordingGroup"]["allSupported"] == group["allSupported"]


def test_stopped_recorder_fails_and_offers_start(settings: Settings) -> None:
    FakeAccount().bucket()
    FakeAccount().recorder(HOME, start=False)
    findings = audit(settings, [HOME])
    f = only(findings, "config.recorder_recording")
    assert (f.status, f.remediation) == (Status.FAIL, "config.start_recorder")
    assert only(findings, "config.delivery_channel").status is Status.PASS


def test_recorder_without_channel(settings: Settings) -> None:
    FakeAccount().recorder(HOME, channel=False)
    findings = audit(settings, [HOME])
    f = only(findings, "config.delivery_channel")
    assert f.status is Status.FAIL and f.remediation is None
    assert only(findings, "config.records_cloudtrail_trails").status is Status.PASS


def test_recorder_last_status_failure_fails() -> None:
    region = RegionFacts(
        ACCOUNT,
        HOME,
        trails=[],
        recorders=[{"name": "default", "recordingGroup": {}}],
        recorder_statuses=[
            {"name": "default", "recording": True, "lastStatus": "FAILURE", "lastErrorCode": "AccessDenied"}
        ],
        channels=[{"name": "default"}],
    )
    f = only(evaluate(AccountFacts(ACCOUNT, [region])), "config.recorder_recording")
    assert f.status is Status.FAIL and "FAILURE" in f.detail


# --- ERROR: never PASS without evidence ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("denied", "check"),
    [
        ("cloudtrail:GetTrailStatus", "cloudtrail.trail_logging"),
        ("cloudtrail:GetEventSelectors", "cloudtrail.trail_management_events"),
        ("cloudtrail:GetTrailStatus", "cloudtrail.trail_s3_delivery"),
        ("cloudtrail:GetTrailStatus", "cloudtrail.multiregion_management_logging"),
        ("cloudwatch:DescribeAlarmsForMetric", "cloudtrail.config_change_alarm"),
        ("sns:ListSubscriptionsByTopic", "cloudtrail.config_change_alarm"),
        ("config:DescribeConfigurationRecorders", "config.recorder_recording"),
        ("config:DescribeConfigurationRecorderStatus", "config.recorder_recording"),
        ("config:DescribeConfigurationRecorders", "config.records_cloudtrail_trails"),
        ("config:DescribeDeliveryChannels", "config.delivery_channel"),
    ],
)
def test_denied_call_is_error_naming_the_action(
    settings: Settings, faults: Callable[..., Faults], denied: str, check: str
) -> None:
    compliant([HOME])
    faults(deny={denied})
    findings = [f for f in audit(settings, [HOME]) if f.check == check]
    assert findings and {f.status for f in findings} == {Status.ERROR}
    assert all(denied in f.detail and f.evidence["error"]["iam_action"] == denied for f in findings)


def test_describe_trails_denied_makes_every_trail_check_error(
    settings: Settings, faults: Callable[..., Faults]
) -> None:
    compliant([HOME])
    faults(deny={"cloudtrail:DescribeTrails"})
    findings = audit(settings, [HOME])
    trail_checks = [f for f in findings if f.check.startswith("cloudtrail.")]
    assert len(trail_checks) == 7 and {f.status for f in trail_checks} == {Status.ERROR}
    assert {f.status for f in findings if f.check.startswith("config.")} == {Status.PASS}


def test_unreachable_endpoint_is_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    compliant([HOME])
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", "http://127.0.0.1:9")
    findings = audit(settings, [HOME])
    config = [f for f in findings if f.check.startswith("config.")]
    assert {f.status for f in config} == {Status.ERROR}
    assert all("EndpointConnectionError" in f.detail for f in config)


# --- regions and accounts --------------------------------------------------------------------------------


def test_region_not_enabled_is_skipped(settings: Settings) -> None:
    compliant([HOME])
    findings = audit(settings, [HOME, "ap-east-1"])  # ap-east-1 is opt-in and not opted in
    skipped = [f for f in findings if f.region == "ap-east-1"]
    assert {f.check for f in skipped} == {
        "config.recorder_recording",
        "config.records_cloudtrail_trails",
        "config.delivery_channel",
    }
    assert {f.status for f in skipped} == {Status.SKIPPED}


def test_default_regions_are_the_enabled_ones(settings: Settings) -> None:
    result = run_audit(settings)
    assert "us-east-1" in result.regions and "ap-east-1" not in result.regions
    assert len(result.regions) >= 17


def test_assumed_roles_audit_each_account_and_a_failed_role_is_error(
    settings: Settings, faults: Callable[..., Faults], monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto gives assumed-role credentials the role's account: seed account 111111111111 through its role.
    role = "arn:aws:iam::111111111111:role/TrailAudit"
    s = Settings(_env_file=None, role_arns=[role], regions=[HOME])  # type: ignore[call-arg]
    from workers.aws.accounts import Account, assumed_account

    other = assumed_account(s, role)
    assert isinstance(other, Account) and other.credentials
    seeded = FakeAccount(session=boto3.Session(**other.credentials))
    seeded.bucket("other-logs")
    seeded.trail("other-trail", bucket="other-logs")
    result = run_audit(
        Settings(
            _env_file=None,
            role_arns=[role, "arn:aws:iam::222222222222:role/Missing"],  # type: ignore[call-arg]
            regions=[HOME],
        )
    )
    by_account = {a: [f for f in result.findings if f.account == a] for a in ("111111111111", "222222222222")}
    assert only(by_account["111111111111"], "cloudtrail.trail_logging").status is Status.PASS
    faults(deny={"sts:AssumeRole"})
    denied = run_audit(Settings(_env_file=None, role_arns=[role], regions=[HOME]))  # type: ignore[call-arg]
    assert {f.status for f in denied.findings} == {Status.ERROR} and len(denied.findings) == 10
    assert all("sts:AssumeRole" in f.detail for f in denied.findings)
    assert denied.accounts == ["111111111111"]


def test_endpoint_that_never_answers_is_error_after_the_timeout(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    compliant([HOME])
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections are accepted by the kernel, then nothing is ever sent back
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONFIG_SERVICE", f"http://127.0.0.1:{silent.getsockname()[1]}")
    try:
        # 2 s: the silent endpoint never answers; moto, loaded by the parallel suite, answers well within it
        quick = settings.model_copy(update={"aws_timeout": 2.0, "aws_max_attempts": 1})
        findings = audit(quick, [HOME])
    finally:
        silent.close()
    config = [f for f in findings if f.check.startswith("config.")]
    assert config and {f.status for f in config} == {Status.ERROR}
    assert all("Timeout" in f.detail and f.evidence["error"]["iam_action"].startswith("config:") for f in config)
    assert only(findings, "cloudtrail.trail_logging").status is Status.PASS
