"""A finding in the AWS Security Finding Format (ASFF), as `securityhub:BatchImportFindings` takes it.

Pure: the same finding gives the same `Id` at every audit (`Finding.uid`), so a finding that passes later
updates the one Security Hub holds instead of adding another. FAIL is FAILED, PASS is PASSED and ERROR is
NOT_AVAILABLE (never PASSED: trail-audit could not verify it); SKIPPED findings are not sent. A waived finding
keeps its compliance status and is SUPPRESSED.
"""

from __future__ import annotations

import json
from typing import Any

from workers.resources.findings import GLOBAL, Finding, Status
from workers.resources.verdicts import CHECKS, Scope

SCHEMA_VERSION = "2018-10-08"
COMPLIANCE = {Status.FAIL: "FAILED", Status.PASS: "PASSED", Status.ERROR: "NOT_AVAILABLE"}
# what a failing check leaves unwatched (an ERROR has the same weight: it may be failing)
SEVERITY = {
    "cloudtrail.multiregion_management_logging": "HIGH",
    "cloudtrail.trail_logging": "HIGH",
    "cloudtrail.trail_management_events": "HIGH",
    "cloudtrail.trail_s3_delivery": "HIGH",
    "cloudtrail.trail_log_file_validation": "MEDIUM",
    "cloudtrail.config_change_alarm": "LOW",
    "config.recorder_recording": "MEDIUM",
    "config.records_cloudtrail_trails": "MEDIUM",
    "config.delivery_channel": "MEDIUM",
}
TYPES = ["Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"]
# the fields ASFF requires of every imported finding (the API's AwsSecurityFinding, "Required: Yes")
REQUIRED = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "CreatedAt", "UpdatedAt",
            "Title", "Description", "Resources")  # fmt: skip


def exported(finding: Finding) -> bool:
    """Whether a finding goes to Security Hub (SKIPPED says nothing about the account)."""
    return finding.status in COMPLIANCE


def product_arn(account: str, region: str) -> str:
    """The default product of an account: findings an account imports about itself."""
    return f"arn:aws:securityhub:{region}:{account}:product/{account}/default"


def resource(finding: Finding, home: str) -> dict[str, Any]:
    """The ASFF resource a finding is about."""
    region = home if finding.region == GLOBAL else finding.region
    scope = CHECKS[finding.check].scope
    if scope is Scope.TRAIL and finding.resource.startswith("arn:"):
        return {"Type": "AwsCloudTrailTrail", "Id": finding.resource, "Partition": "aws", "Region": region}
    if scope is Scope.ACCOUNT:
        return {"Type": "AwsAccount", "Id": f"AWS::::Account:{finding.account}", "Partition": "aws", "Region": region}
    return {"Type": "Other", "Id": finding.resource or f"{finding.account}/{region}", "Partition": "aws",
            "Region": region}  # fmt: skip


def to_asff(
    finding: Finding, home: str, now: str, created: str | None = None, waiver: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One finding as ASFF, imported in `home` (the account's aggregation region)."""
    check = CHECKS[finding.check]
    severity = "INFORMATIONAL" if finding.status is Status.PASS else SEVERITY.get(finding.check, "MEDIUM")
    doc: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding.uid,
        "ProductArn": product_arn(finding.account, home),
        "GeneratorId": f"trail-audit/{finding.check}",
        "AwsAccountId": finding.account,
        "Types": TYPES,
        "CreatedAt": created or now,
        "UpdatedAt": now,
        "Severity": {"Label": severity},
        "Title": check.title[:256],
        "Description": (finding.detail or check.title)[:1024],
        "Resources": [resource(finding, home)],
        "Compliance": {"Status": COMPLIANCE[finding.status]},
        "Workflow": {"Status": "SUPPRESSED" if waiver else "NEW"},
        "RecordState": "ACTIVE",
        "ProductFields": {
            "trail-audit/check": finding.check,
            "trail-audit/status": finding.status.value,
            "trail-audit/region": finding.region,
            "trail-audit/evidence": json.dumps(finding.evidence, default=str, sort_keys=True)[:4000],
        },
        "FindingProviderFields": {"Severity": {"Label": severity}, "Types": TYPES},
    }
    if finding.remediation:
        doc["Remediation"] = {"Recommendation": {"Text": f"trail-audit fix: {finding.remediation}"[:512]}}
    if waiver:
        note = f"Waived by {waiver['approver']} until {waiver['until_iso']}: {waiver['reason']}"
        doc["Note"] = {"Text": note[:512], "UpdatedBy": "trail-audit", "UpdatedAt": now}
        doc["ProductFields"]["trail-audit/waived-until"] = waiver["until_iso"]
    return doc
