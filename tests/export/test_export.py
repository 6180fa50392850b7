"""Findings where security teams look: Security Hub (ASFF, on moto: every finding in its own account, updated
in place) and OCSF Compliance Findings (validated against py-ocsf-models)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from demo.fake_account import HOME, FakeAccount, compliant
from demo.servers import Moto
from tests.helpers import ROOT
from workers import cli
from workers.aws.errors import iam_action
from workers.export import asff, securityhub
from workers.export.ocsf import to_ocsf
from workers.resources.findings import GLOBAL, Finding, Status
from workers.resources.verdicts import CHECKS, Scope

ACCOUNT = "123456789012"


def sample() -> list[Finding]:
    """A finding of every status and every scope."""
    arn = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/management"
    by_scope = {Scope.TRAIL: ("cloudtrail.trail_logging", HOME, arn),
                Scope.ACCOUNT: ("cloudtrail.multiregion_management_logging", GLOBAL, ACCOUNT),
                Scope.REGION: ("config.recorder_recording", HOME, "default")}  # fmt: skip
    out = []
    for status in Status:
        for scope, (check, region, resource) in by_scope.items():
            assert CHECKS[check].scope is scope
            out.append(Finding(check, status, ACCOUNT, region, resource, f"{check} is {status.value}", None,
                               {"IsLogging": status is Status.PASS}))  # fmt: skip
    return out


def test_every_finding_is_a_valid_ocsf_compliance_finding_and_error_is_never_pass() -> None:
    for finding in sample():
        event = to_ocsf(finding, 1_764_000_000_000, "0.1.0")
        model = ComplianceFinding(**event)  # the maintained library's models: raises on a wrong shape
        assert model.class_uid == 2003 and model.type_uid == 200301
        assert event["finding_info"]["uid"] == finding.uid and event["compliance"]["control"] == finding.check
        assert event["resources"][0]["uid"] == finding.resource and event["evidences"] == [{"data": finding.evidence}]
        expected = {Status.PASS: 1, Status.ERROR: 2, Status.FAIL: 3, Status.SKIPPED: 0}[finding.status]
        assert event["compliance"]["status_id"] == expected


def test_asff_has_every_required_field_and_maps_the_statuses() -> None:
    now = "2026-11-30T12:00:00.000000Z"
    docs = {f.status: asff.to_asff(f, HOME, now) for f in sample() if asff.exported(f)}
    assert Status.SKIPPED not in docs  # SKIPPED is not imported
    for doc in docs.values():
        assert all(doc.get(k) for k in asff.REQUIRED), [k for k in asff.REQUIRED if not doc.get(k)]
        assert doc["ProductArn"] == f"arn:aws:securityhub:{HOME}:{ACCOUNT}:product/{ACCOUNT}/default"
        assert len(doc["Id"]) <= 512 and len(doc["Title"]) <= 256 and len(doc["Description"]) <= 1024
        assert all(isinstance(v, str) for v in doc["ProductFields"].values())
    assert {s: d["Compliance"]["Status"] for s, d in docs.items()} == {
        Status.FAIL: "FAILED", Status.PASS: "PASSED", Status.ERROR: "NOT_AVAILABLE"}  # fmt: skip
    long = Finding("cloudtrail.trail_logging", Status.FAIL, ACCOUNT, HOME, "x" * 600, "d")
    assert len(long.uid) <= 512 and long.uid == Finding(**{**long.__dict__}).uid  # stable, and bounded


def held(account_session: Any = None) -> list[dict[str, Any]]:
    client = (account_session or boto3).client("securityhub", region_name=HOME)
    return [f for page in client.get_paginator("get_findings").paginate() for f in page["Findings"]]


def test_the_cli_exports_to_security_hub_and_a_later_pass_updates_the_same_finding(aws: Moto) -> None:
    acct = compliant([HOME])
    ct = acct.client("cloudtrail")
    ct.stop_logging(Name="management")
    err = io.StringIO()
    argv = ["audit", "--regions", HOME, "--no-events", "--export", "securityhub"]
    assert cli.main(argv, stdout=io.StringIO(), stderr=err) == 1
    assert "findings imported into 1 accounts" in err.getvalue()
    first = {f["Id"]: f for f in held()}
    logging = [f for f in first.values() if f["GeneratorId"] == "trail-audit/cloudtrail.trail_logging"]
    assert [f["Compliance"]["Status"] for f in logging] == ["FAILED"]
    assert all(f["AwsAccountId"] == ACCOUNT and all(f.get(k) for k in asff.REQUIRED) for f in first.values())
    ct.start_logging(Name="management")
    assert cli.main(argv, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    second = {f["Id"]: f for f in held()}
    assert second.keys() == first.keys()  # updated in place, not duplicated
    [again] = [second[f["Id"]] for f in logging]
    assert again["Compliance"]["Status"] == "PASSED" and again["CreatedAt"] == logging[0]["CreatedAt"]


def test_the_export_uses_exactly_the_actions_of_its_policy(aws: Moto, settings: Any) -> None:
    from workers.audit.engine import run_audit
    from workers.aws.accounts import Account, default_account

    FakeAccount().bucket()
    result = run_audit(settings, [HOME])
    acct = default_account(settings)
    assert isinstance(acct, Account)
    before = dict(acct.calls)
    assert securityhub.export(settings, result.findings).ok
    used = {iam_action(*name.split(":", 1)) for name, n in acct.calls.items() if n > before.get(name, 0)}
    policy = json.loads((ROOT / "deploy/iam/securityhub-export-policy.json").read_text())
    allowed = {a for st in policy["Statement"] for a in st["Action"]}
    assert used == allowed == set(securityhub.ACTIONS)


def test_an_organizations_findings_go_into_each_accounts_own_security_hub(
    aws: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.audit.test_organization import org_with, settings_with
    from workers.audit.engine import run_audit

    _, _, [member] = org_with(1)
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit")
    result = run_audit(settings, [HOME])
    done = securityhub.export(settings, result.findings)
    assert done.ok and set(done.imported) == {ACCOUNT, member}
    creds = boto3.client("sts", region_name=HOME).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/TrailAudit", RoleSessionName="look")["Credentials"]  # fmt: skip
    theirs = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])  # fmt: skip
    assert {f["AwsAccountId"] for f in held(theirs)} == {member}
    assert {f["AwsAccountId"] for f in held()} == {ACCOUNT}


def test_the_cli_prints_ocsf(aws: Moto) -> None:
    compliant([HOME])
    out = io.StringIO()
    assert cli.main(["audit", "--regions", HOME, "--format", "ocsf"], stdout=out, stderr=io.StringIO()) == 0
    events = json.loads(out.getvalue())
    assert events and all(ComplianceFinding(**e).class_uid == 2003 for e in events)
    assert {e["compliance"]["status"] for e in events} <= {"Pass", "Unknown"}
