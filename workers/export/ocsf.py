"""`trail-audit audit --format ocsf`: one OCSF Compliance Finding (class 2003) per finding.

Pure: plain dicts in OCSF 1.5's shape (validated in the tests against the models of `py-ocsf-models`), with
the check (uid and title), the status (FAIL 3 Fail, PASS 1 Pass, ERROR 2 Warning: "did not yield a result
due to missing information", never Pass; SKIPPED 0 Unknown), the resource, and the evidence. A waived finding
keeps its status and says so (`status` Suppressed, the waiver in `unmapped`).
"""

from __future__ import annotations

import json
from typing import Any

from workers.export.asff import SEVERITY
from workers.resources.findings import GLOBAL, Finding, Status
from workers.resources.verdicts import CHECKS, Scope

VERSION = "1.5.0"
CLASS_UID = 2003  # Compliance Finding
CATEGORY_UID = 2  # Findings
ACTIVITY_CREATE = 1
COMPLIANCE_STATUS = {
    Status.PASS: (1, "Pass"),
    Status.ERROR: (2, "Warning"),
    Status.FAIL: (3, "Fail"),
    Status.SKIPPED: (0, "Unknown"),
}
SEVERITY_ID = {"INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}
_RESOURCE_TYPE = {
    Scope.TRAIL: "AWS::CloudTrail::Trail",
    Scope.ACCOUNT: "AWS::::Account",
    Scope.REGION: "AWS::Config::ConfigurationRecorder",
}


def to_ocsf(finding: Finding, epoch_ms: int, version: str, waiver: dict[str, Any] | None = None) -> dict[str, Any]:
    """One finding as an OCSF Compliance Finding event."""
    check = CHECKS[finding.check]
    severity = "INFORMATIONAL" if finding.status is Status.PASS else SEVERITY.get(finding.check, "MEDIUM")
    status_id, status = COMPLIANCE_STATUS[finding.status]
    event: dict[str, Any] = {
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "time": epoch_ms,
        "severity_id": SEVERITY_ID[severity],
        "severity": severity.title(),
        "status_id": 1 if not waiver else 3,
        "status": "New" if not waiver else "Suppressed",
        "message": finding.detail,
        "metadata": {
            "version": VERSION,
            "product": {"name": "trail-audit", "vendor_name": "trail-audit", "version": version},
        },
        "finding_info": {
            "uid": finding.uid,
            "title": check.title,
            "desc": finding.detail,
            "types": ["CloudTrail configuration"],
            "created_time": epoch_ms,
        },
        "compliance": {
            "control": finding.check,
            "status_id": status_id,
            "status": status,
            "checks": [
                {"uid": finding.check, "name": check.title, "status": finding.status.value, "status_id": status_id}
            ],
        },
        "resources": [_resource(finding)],
        "cloud": {
            "provider": "AWS",
            "account": {"uid": finding.account, "type": "AWS Account"},
            "region": finding.region,
        },
        "evidences": [{"data": finding.evidence}] if finding.evidence else None,
        "unmapped": {
            "trail-audit": {"status": finding.status.value, "remediation": finding.remediation, "waived": waiver}
        },
    }
    if finding.remediation:
        event["remediation"] = {"desc": f"trail-audit fix: {finding.remediation}"}
    return {k: v for k, v in event.items() if v is not None}


def _resource(finding: Finding) -> dict[str, Any]:
    scope = CHECKS[finding.check].scope
    return {
        "uid": finding.resource,
        "name": finding.resource.rsplit("/", 1)[-1],
        "type": _RESOURCE_TYPE[scope],
        "region": None if finding.region == GLOBAL else finding.region,
        "cloud_partition": "aws",
        "data": {"evidence": json.loads(json.dumps(finding.evidence, default=str))},
    }
