"""Throttling does not change verdicts; the read-only IAM policy covers exactly what an audit calls."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from demo.fake_account import CIS_PATTERN, LOG_GROUP, demo_account
from tests.helpers import ROOT
from tests.helpers.faults import Faults
from workers.audit.engine import run_audit
from workers.aws.errors import iam_action
from workers.core.settings import Settings

REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}  # allowed for every identity, whatever its policy
MONITOR_ONLY = {"cloudtrail:ListTrails"}  # the monitor's, on the same role (tests/monitor/test_reads.py)


def verdicts(settings: Settings) -> list[tuple[str, str, str, str]]:
    return sorted((f.check, f.region, f.resource, f.status.value) for f in run_audit(settings, REGIONS).findings)


def test_thirty_percent_throttling_changes_no_verdict(
    aws: object, faults: Callable[..., Faults], monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_account(REGIONS)
    monkeypatch.setenv("TRAIL_AUDIT_AWS_MAX_ATTEMPTS", "12")
    calm = verdicts(Settings(_env_file=None))  # type: ignore[call-arg]
    injector = faults(throttle=0.3, seed=2026)
    stormy = verdicts(Settings(_env_file=None))  # type: ignore[call-arg]
    assert stormy == calm
    attempts, injected = sum(injector.attempts.values()), sum(injector.injected.values())
    assert attempts > 30 and 0.15 < injected / attempts < 0.45, (injected, attempts)
    assert {"FAIL", "PASS"} <= {v[3] for v in calm}


def test_policy_covers_every_call_of_a_full_audit(settings: Settings) -> None:
    acct = demo_account(REGIONS)  # every branch: recorders, missing buckets, a filter missing one event...
    acct.client("logs").put_metric_filter(  # ...and a complete CIS chain, so alarms and subscribers are read
        logGroupName=LOG_GROUP,
        filterName="cis-4.5",
        filterPattern=CIS_PATTERN,
        metricTransformations=[
            {"metricName": "CloudTrailConfigChanges", "metricNamespace": "CISBenchmark", "metricValue": "1"}
        ],
    )
    key = acct.client("kms").create_key(Description="app-audit logs")["KeyMetadata"]["Arn"]  # ...and a KMS key
    acct.client("cloudtrail").update_trail(Name=acct.trails["app-audit"], KmsKeyId=key)
    result = run_audit(settings, REGIONS, events_hours=1)
    used = {iam_action(*name.split(":", 1)) for name in result.aws_calls} - NO_PERMISSION_NEEDED
    policy = json.loads((ROOT / "deploy/iam/audit-policy.json").read_text())
    allowed = {a for st in policy["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    assert used - allowed == set(), f"the audit calls actions the policy lacks: {sorted(used - allowed)}"
    unused = allowed - used - MONITOR_ONLY
    assert unused == set(), f"the policy grants actions neither the audit nor the monitor uses: {sorted(unused)}"
    assert not any(a.split(":")[1].startswith(("Put", "Create", "Delete", "Update", "Start", "Stop")) for a in allowed)


def test_an_error_names_the_iam_action_only_when_a_permission_is_missing() -> None:
    from workers.aws.errors import ApiError

    denied = ApiError("cloudtrail", "LookupEvents", "AccessDeniedException", "not authorized")
    broken = ApiError("cloudtrail", "LookupEvents", "500", "the service answered with an HTML error page")
    slow = ApiError("cloudtrail", "LookupEvents", "Timeout", "read timeout")
    assert "cloudtrail:LookupEvents" in denied.sentence() and "denied" in denied.sentence()
    for error in (broken, slow):
        assert "IAM" not in error.sentence() and "cloudtrail:" not in error.sentence()
        assert error.sentence().startswith("LookupEvents failed with")
