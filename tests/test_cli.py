"""`trail-audit` as a user runs it: a separate process, a moto server behind AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from typing import Any

import pytest

from demo.fake_account import compliant, demo_account
from demo.servers import Moto, aws_env, clean_env

REGIONS = "us-east-1,eu-west-1,eu-central-1"
FIELDS = {"check", "status", "account", "region", "resource", "detail", "remediation", "evidence"}


def run(moto: Moto, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**clean_env(), **aws_env(moto.url), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args], capture_output=True, text=True, env=full, timeout=120, check=False
    )


def test_json_report_and_exit_1_on_failures(aws: Moto) -> None:
    demo_account(REGIONS.split(","))
    proc = run(aws, "audit", "--regions", REGIONS, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["findings"] and all(set(f) == FIELDS for f in doc["findings"])
    statuses = {f["status"] for f in doc["findings"]}
    assert statuses <= {"PASS", "FAIL", "ERROR", "SKIPPED"} and "FAIL" in statuses
    stopped = [f for f in doc["findings"] if f["check"] == "cloudtrail.trail_logging" and f["status"] == "FAIL"]
    assert [f["resource"].rsplit("/", 1)[1] for f in stopped] == ["app-audit"]
    assert stopped[0]["remediation"] == "cloudtrail.start_logging"
    assert doc["summary"]["counts"]["FAIL"] == sum(f["status"] == "FAIL" for f in doc["findings"])
    # moto has no LookupEvents: the events section says ERROR, and the verdicts do not depend on it
    assert doc["events"]["status"] == "ERROR" and doc["events"]["errors"][0]["iam_action"] == "cloudtrail:LookupEvents"
    without = json.loads(run(aws, "audit", "--regions", REGIONS, "--format", "json", "--no-events").stdout)
    assert without["events"] is None
    key = lambda f: (f["check"], f["region"], f["resource"], f["status"])  # noqa: E731
    assert sorted(map(key, without["findings"])) == sorted(map(key, doc["findings"]))


def test_exit_0_when_all_pass_or_skipped(aws: Moto) -> None:
    compliant(["us-east-1", "eu-west-1"])
    proc = run(aws, "audit", "--regions", "us-east-1,eu-west-1,ap-east-1", "--format", "json", "--no-events")
    assert proc.returncode == 0, proc.stdout
    assert {f["status"] for f in json.loads(proc.stdout)["findings"]} == {"PASS", "SKIPPED"}


def test_exit_3_on_errors_without_failures(aws: Moto) -> None:
    compliant(["us-east-1"])
    proc = run(
        aws,
        "audit",
        "--regions",
        "us-east-1",
        "--format",
        "json",
        "--no-events",
        env={"AWS_ENDPOINT_URL_CONFIG_SERVICE": "http://127.0.0.1:9"},
    )
    assert proc.returncode == 3, proc.stdout
    statuses = {f["check"]: f["status"] for f in json.loads(proc.stdout)["findings"]}
    assert statuses["config.delivery_channel"] == "ERROR" and statuses["cloudtrail.trail_logging"] == "PASS"


def test_no_credentials_is_error_not_traceback(aws: Moto) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    full = {**clean_env(), **aws_env(aws.url), **env}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        full.pop(key)
    proc = subprocess.run(
        [sys.executable, "-m", "workers.cli", "audit", "--regions", "us-east-1", "--no-events"],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr + proc.stdout and "NoCredentials" in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--regions", "us-east-1,not a region"],
        ["audit", "--format", "xml"],
        ["audit", "--regions", ""],
        ["events", "--hours", "0"],
        ["events", "--hours", "lots"],
        ["launch"],
        [],
    ],
)
def test_usage_errors_exit_2_with_one_line(aws: Moto, args: list[str]) -> None:
    proc = run(aws, *args)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("trail-audit") and "Traceback" not in proc.stderr


def test_bad_setting_exits_2_with_one_line(aws: Moto) -> None:
    proc = run(aws, "audit", env={"TRAIL_AUDIT_EVENTS_HOURS": "forever"})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "TRAIL_AUDIT_EVENTS_HOURS" in proc.stderr


def run_in_terminal(moto: Moto, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stdout and stderr on pseudo-terminals, as in an interactive shell."""
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args],
        stdout=out_slave,
        stderr=err_slave,
        env={**clean_env(), **aws_env(moto.url), **env},
    )
    os.close(out_slave)
    os.close(err_slave)
    chunks: dict[int, bytes] = {out_master: b"", err_master: b""}
    open_fds = [out_master, err_master]
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [], 60)
        if not ready:
            break
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if data:
                chunks[fd] += data
            else:
                open_fds.remove(fd)
    code = proc.wait(60)
    return code, chunks[out_master].decode(), chunks[err_master].decode()


def test_table_in_a_terminal_has_colour_and_a_progress_bar(aws: Moto) -> None:
    demo_account(REGIONS.split(","))
    env: dict[str, Any] = {"TERM": "xterm"}
    code, out, err = run_in_terminal(aws, "audit", "--regions", REGIONS, "--no-events", env=env)
    assert code == 1
    assert "\033[31;1m" in out  # red for FAIL
    assert "auditing [" in err and "3/3 regions" in err
    # failures first: the first check group listed is a failing one
    first_group = next(line for line in out.splitlines()[2:] if line and not line.startswith(" "))
    assert "✗" in first_group
    code, out, _ = run_in_terminal(aws, "audit", "--regions", REGIONS, "--no-events", env={**env, "NO_COLOR": "1"})
    assert code == 1 and "\033[" not in out and "✗ cloudtrail" in out


def test_events_command_reports_lookup_error_with_exit_3(aws: Moto) -> None:
    proc = run(aws, "events", "--hours", "2", "--regions", "us-east-1", "--format", "json")
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)["events"]
    assert doc["status"] == "ERROR" and doc["hours"] == 2 and doc["errors"][0]["region"] == "us-east-1"
