"""AWS Config as AWS has it since 2024: service-linked recorders, `recordingMode`, `ListConfigurationRecorders`,
`AssociateResourceTypes`, and `lastStatus` in the API's documented spelling.

moto has none of these (it drops `recordingMode`, gives no recorder ARN and answers `ListConfigurationRecorders`
with NotImplemented), so the reads and plans here run on botocore's Stubber: every response is validated
against the service model, and so is every request a plan would make.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.stub import Stubber

from workers.aws import accounts
from workers.aws.accounts import Account
from workers.core.settings import Settings
from workers.resources import watched
from workers.resources.facts import RegionFacts
from workers.resources.findings import Status
from workers.resources.recorder import (
    TRAIL_TYPE,
    read_recorders,
    record_cloudtrail_trails,
    recorder_recording,
    records_cloudtrail_trails,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-config-role"
ARN = f"arn:aws:config:{REGION}:{ACCOUNT}:configuration-recorder/default/abcdef0123456789"
LINKED = {"arn": f"arn:aws:config:{REGION}:{ACCOUNT}:configuration-recorder/AWSConfigurationRecorderForSecurityHub/x1",
          "name": "AWSConfigurationRecorderForSecurityHub", "servicePrincipal": "securityhub.amazonaws.com",
          "recordingScope": "INTERNAL"}  # fmt: skip


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Account, Stubber]]:
    """An account whose Config client (with and without a retry cap) is one stubbed client."""
    client = boto3.client("config", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    acct = Account(ACCOUNT, Config())
    monkeypatch.setattr(accounts, "_shared_client", lambda service, region, config, attempts: client)
    with Stubber(client) as stub:
        yield acct, stub
        stub.assert_no_pending_responses()


def recorder(group: dict[str, Any] | None = None, mode: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    found = {"name": "default", "roleARN": ROLE, "recordingGroup": group or {"allSupported": True}} | extra
    return found | ({"recordingMode": mode} if mode else {})


def region(recorders: list[dict[str, Any]], statuses: list[dict[str, Any]] | None = None,
           linked: list[dict[str, Any]] | None = None) -> RegionFacts:  # fmt: skip
    facts = RegionFacts(ACCOUNT, REGION)
    facts.recorders, facts.recorder_statuses, facts.linked_recorders = recorders, statuses or [], linked or []
    return facts


def test_a_service_linked_recorder_never_counts_as_the_customers_recording(stubbed: tuple[Account, Stubber]) -> None:
    acct, stub = stubbed
    stub.add_response("describe_configuration_recorders", {"ConfigurationRecorders": []})
    stub.add_response("list_configuration_recorders", {"ConfigurationRecorderSummaries": [LINKED]})
    recorders, statuses, linked = read_recorders(acct, REGION)
    assert (recorders, statuses, [r["name"] for r in linked]) == ([], [], [LINKED["name"]])
    verdict = recorder_recording(region(recorders, statuses, linked))
    assert verdict.status is Status.FAIL and "service-linked" in verdict.detail and LINKED["name"] in verdict.detail
    # and one that a describe returns is judged the same (it delivers nothing to the customer)
    shown = recorder(recordingScope="INTERNAL", servicePrincipal="securityhub.amazonaws.com")
    status = {"name": "default", "recording": True, "lastStatus": "Success"}
    assert recorder_recording(region([shown], [status])).status is Status.FAIL


def test_where_list_does_not_answer_the_describes_stand(stubbed: tuple[Account, Stubber]) -> None:
    acct, stub = stubbed
    stub.add_response("describe_configuration_recorders", {"ConfigurationRecorders": [recorder()]})
    stub.add_client_error("list_configuration_recorders", "AccessDeniedException", http_status_code=400)
    stub.add_response("describe_configuration_recorder_status", {"ConfigurationRecordersStatus": [
        {"name": "default", "recording": True, "lastStatus": "Success"}]})  # fmt: skip
    facts = region(*read_recorders(acct, REGION))
    assert recorder_recording(facts).status is Status.PASS


@pytest.mark.parametrize(
    ("last", "status"),
    [("Success", Status.PASS), ("Pending", Status.PASS), ("SUCCESS", Status.PASS), ("Failure", Status.FAIL),
     ("FAILURE", Status.FAIL), ("NotApplicable", Status.ERROR), (None, Status.ERROR)],
)  # fmt: skip
def test_last_status_in_any_case_and_an_unknown_one_is_never_pass(last: str | None, status: Status) -> None:
    st: dict[str, Any] = {"name": "default", "recording": True} | ({"lastStatus": last} if last else {})
    assert recorder_recording(region([recorder()], [st])).status is status


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        (None, Status.PASS),  # no recording mode: AWS records continuously
        ({"recordingFrequency": "CONTINUOUS"}, Status.PASS),
        ({"recordingFrequency": "DAILY"}, Status.FAIL),
        ({"recordingFrequency": "CONTINUOUS", "recordingModeOverrides": [
            {"resourceTypes": [TRAIL_TYPE, "AWS::EC2::Instance"], "recordingFrequency": "DAILY"}]}, Status.FAIL),
        ({"recordingFrequency": "DAILY", "recordingModeOverrides": [
            {"resourceTypes": [TRAIL_TYPE], "recordingFrequency": "CONTINUOUS"}]}, Status.PASS),
    ],
)  # fmt: skip
def test_trails_recorded_only_daily_fail(mode: dict[str, Any] | None, status: Status) -> None:
    verdict = records_cloudtrail_trails(region([recorder(mode=mode)]))
    assert verdict.status is status, verdict.detail
    assert ("DAILY" in verdict.detail) is (status is Status.FAIL)


def plan_for(stubbed: tuple[Account, Stubber], found: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    acct, stub = stubbed
    stub.add_response("describe_configuration_recorders", {"ConfigurationRecorders": [found]})
    planned = record_cloudtrail_trails(acct, REGION, REGION, Settings(_env_file=None))  # type: ignore[call-arg]
    client = acct.client("config", REGION)
    for c in planned.calls:  # each planned call is made on the stubbed client: botocore validates its parameters
        answer = {"ConfigurationRecorder": found} if c.operation == "AssociateResourceTypes" else {}  # as modelled
        stub.add_response(xform_name(c.operation), answer, c.params)
        getattr(client, xform_name(c.operation))(**c.params)
    return [(c.operation, c.params) for c in planned.calls]


def test_the_fix_associates_the_type_where_the_2024_api_allows(stubbed: tuple[Account, Stubber]) -> None:
    group = {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"],
             "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"}}  # fmt: skip
    assert plan_for(stubbed, recorder(group, arn=ARN)) == [
        ("AssociateResourceTypes", {"ConfigurationRecorderArn": ARN, "ResourceTypes": [TRAIL_TYPE]})]


def test_the_fix_adds_a_continuous_override_and_keeps_the_rest(stubbed: tuple[Account, Stubber]) -> None:
    mode = {"recordingFrequency": "DAILY", "recordingModeOverrides": [
        {"description": "ec2 and trails daily", "resourceTypes": [TRAIL_TYPE, "AWS::EC2::Instance"],
         "recordingFrequency": "DAILY"}]}  # fmt: skip
    [(operation, params)] = plan_for(stubbed, recorder(mode=mode, arn=ARN))
    assert operation == "PutConfigurationRecorder"
    put = params["ConfigurationRecorder"]
    assert put["recordingGroup"] == {"allSupported": True} and put["roleARN"] == ROLE and "arn" not in put
    assert put["recordingMode"] == {"recordingFrequency": "DAILY", "recordingModeOverrides": [
        {"description": "ec2 and trails daily", "resourceTypes": ["AWS::EC2::Instance"], "recordingFrequency": "DAILY"},
        {"description": "trail-audit: CloudTrail trails, continuously", "resourceTypes": [TRAIL_TYPE],
         "recordingFrequency": "CONTINUOUS"}]}  # fmt: skip
    assert records_cloudtrail_trails(region([put])).status is Status.PASS


def test_a_recorder_turned_daily_is_a_regression_and_restore_puts_it_back() -> None:
    before = {"recorders": {"default": {"recording": True, "covers_trails": True, "frequency": "CONTINUOUS",
                                        "recorder": recorder()}}}  # fmt: skip
    daily = recorder(mode={"recordingFrequency": "DAILY"})
    after = {"recorders": {"default": {"recording": True, "covers_trails": True, "frequency": "DAILY",
                                       "recorder": daily}}}  # fmt: skip
    [change] = watched.regressions(ACCOUNT, REGION, before, after)
    assert (change.field, change.before, change.after) == ("frequency", "CONTINUOUS", "DAILY")
    plan = watched.restore_plan(change.to_dict())
    assert [(c.operation, c.params["ConfigurationRecorder"]) for c in plan.calls] == [
        ("PutConfigurationRecorder", recorder())]
