"""The layout keeps its promises: the web process imports no AWS code, the catalogue it reads equals the
registries, and jobs queued under the old dotted paths (before the move into packages) still resolve."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rq.utils import import_attribute

from workers.audit.checks import CHECKS
from workers.core import catalogue
from workers.remediation.registry import REMEDIATIONS


def test_the_web_process_imports_neither_boto3_nor_the_audit_engine() -> None:
    code = ("import sys, bot.web, bot.__main__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore') "
            "or m in ('workers.audit.engine', 'workers.audit.inventory', 'workers.audit.accounts')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_catalogue_equals_the_registries() -> None:
    assert {check_id: check.scope.value for check_id, check in CHECKS.items()} == catalogue.CHECK_SCOPES
    assert {r.fixes: r.id for r in REMEDIATIONS.values() if r.fixes} == catalogue.FIXES


@pytest.mark.parametrize("path", [
    "workers.jobs.start_audit", "workers.jobs.audit_regions", "workers.jobs.finish_audit",
    "workers.remediate.prepare", "workers.remediate.execute", "workers.remediate.reenable",
    "workers.remediate.recheck_request", "workers.remediate.sweep_due", "workers.remediate.execution_failed",
    "workers.remediate.prepare_failed", "workers.monitor.cycle", "workers.monitor.watch_account",
    "workers.failures.report", "workers.watchdog.sweep",
])  # fmt: skip
def test_jobs_queued_under_their_old_paths_still_run(path: str) -> None:
    assert callable(import_attribute(path))
