"""What changed since the previous audit of the same scope: the pure comparison, its JSON schema
(docs/delta.schema.json), the Slack block a report leads with, and the CLI's `--since`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from demo.fake_account import FakeAccount, compliant
from demo.servers import Moto
from tests.helpers import ROOT
from workers.audit.delta import compare
from workers.slack.messages.changes import changes_block, headline
from workers.slack.messages.report import report

SCHEMA = json.loads((ROOT / "docs/delta.schema.json").read_text())
TRAIL = "arn:aws:cloudtrail:us-east-1:123456789012:trail/management"


def finding(check: str, status: str, resource: str = TRAIL, region: str = "us-east-1", **extra: Any) -> dict[str, Any]:
    return {"check": check, "status": status, "account": "123456789012", "region": region, "resource": resource,
            "detail": f"{check} is {status}", "remediation": None, "evidence": {}, **extra}  # fmt: skip


def doc(findings: list[dict[str, Any]], started: str, audit_id: str = "a") -> dict[str, Any]:
    return {"id": audit_id, "findings": findings, "summary": {"started": started, "accounts": ["123456789012"],
                                                              "regions": ["us-east-1"]}}  # fmt: skip


def test_each_finding_is_new_resolved_still_failing_waived_or_unchanged() -> None:
    first = doc([finding("cloudtrail.trail_logging", "FAIL"), finding("cloudtrail.trail_management_events", "PASS"),
                 finding("config.recorder_enabled", "ERROR", resource="us-east-1"),
                 finding("cloudtrail.trail_log_file_validation", "FAIL"),
                 finding("cloudtrail.trail_s3_delivery", "FAIL", resource=TRAIL + "-old")],
                "2026-12-01T09:00:00+00:00", "a1")  # fmt: skip
    assert compare(None, first)["first"] and headline(compare(None, first)).startswith("First audit")
    first["delta"] = compare(None, first)
    second = doc([finding("cloudtrail.trail_logging", "FAIL"), finding("cloudtrail.trail_management_events", "FAIL"),
                  finding("config.recorder_enabled", "PASS", resource="us-east-1"),
                  finding("cloudtrail.trail_log_file_validation", "FAIL", waived={"by": "U0ALICE"}),
                  finding("cloudtrail.multiregion_management_logging", "ERROR", resource="123456789012")],
                 "2026-12-02T09:00:00+00:00", "a2")  # fmt: skip
    d = compare(first, second)
    jsonschema.validate(d, SCHEMA)
    assert [e["check"] for e in d["new"]] == ["cloudtrail.trail_management_events",
                                              "cloudtrail.multiregion_management_logging"]  # FAIL before ERROR
    assert {(e["check"], e["status"], e["was"]) for e in d["resolved"]} == {
        ("config.recorder_enabled", "PASS", "ERROR"), ("cloudtrail.trail_s3_delivery", "GONE", "FAIL")}
    assert [(e["check"], e["failing_since"]) for e in d["still_failing"]] == [
        ("cloudtrail.trail_logging", "2026-12-01T09:00:00+00:00")]
    assert [e["check"] for e in d["waived"]] == ["cloudtrail.trail_log_file_validation"]  # not new
    assert d["counts"] == {"new": 2, "resolved": 2, "still_failing": 1, "waived": 1, "unchanged": 0}
    assert headline(d) == "Since 2026-12-01 09:00 UTC: 2 new failing, 2 resolved, 1 still failing."
    second["delta"] = d
    third = doc(second["findings"], "2026-12-03T09:00:00+00:00", "a3")
    d3 = compare(second, third)
    since = {e["check"]: e["failing_since"] for e in d3["still_failing"]}
    assert since == {"cloudtrail.trail_logging": "2026-12-01T09:00:00+00:00",  # carried from the first audit
                     "cloudtrail.trail_management_events": "2026-12-02T09:00:00+00:00",
                     "cloudtrail.multiregion_management_logging": "2026-12-02T09:00:00+00:00"}  # fmt: skip
    assert not d3["changed"] and headline(d3) == "No change since 2026-12-02 09:00 UTC; 3 still failing."
    jsonschema.validate(d3, SCHEMA)


def test_the_report_leads_with_the_changes_and_outside_text_is_escaped() -> None:
    before = doc([finding("cloudtrail.trail_logging", "PASS", resource=TRAIL + "<!channel>")], "2026-12-01T09:00:00Z")
    after = doc([finding("cloudtrail.trail_logging", "FAIL", resource=TRAIL + "<!channel>")], "2026-12-02T09:00:00Z")
    after["delta"] = compare(before, after)
    message, _ = report(after)
    lead = message["blocks"][2]["text"]["text"]
    assert lead.startswith("*Changes* Since 2026-12-01 09:00 UTC: 1 new failing, 0 resolved.")
    assert ":x: new `cloudtrail.trail_logging`" in lead or "new `cloudtrail.trail_logging`" in lead
    assert "<!channel>" not in lead and "&lt;!channel&gt;" in lead
    assert message["text"].endswith("Since 2026-12-01 09:00 UTC: 1 new failing, 0 resolved.")
    assert changes_block(None) is None
    quiet = doc(after["findings"], "2026-12-03T09:00:00Z")
    quiet["delta"] = compare(after, quiet)
    assert "No change since 2026-12-02 09:00 UTC; 1 still failing." in report(quiet)[0]["blocks"][2]["text"]["text"]


def cli(aws: Moto, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "AWS_ENDPOINT_URL": aws.url, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "TRAIL_AUDIT_AWS_MAX_ATTEMPTS": "2",
           "NO_COLOR": "1"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "workers.cli", "audit", "--regions", "us-east-1", "--no-events",
                           *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_cli_compares_with_a_saved_json_and_refuses_a_bad_one(aws: Moto) -> None:
    compliant(["us-east-1"])
    FakeAccount().client("cloudtrail").stop_logging(Name="management")
    saved = cli(aws, "--format", "json")
    assert saved.returncode == 1 and json.loads(saved.stdout)["delta"]["first"] is True
    FakeAccount().client("cloudtrail").start_logging(Name="management")
    previous = ROOT / ".pytest-delta-previous.json"
    try:
        previous.write_text(saved.stdout)
        now = json.loads(cli(aws, "--format", "json", "--since", str(previous)).stdout)
        jsonschema.validate(now["delta"], SCHEMA)
        resolved = {e["check"]: e["was"] for e in now["delta"]["resolved"]}  # logging again: its chain too
        was_failing = {f["check"] for f in json.loads(saved.stdout)["findings"] if f["status"] == "FAIL"}
        assert resolved == dict.fromkeys(was_failing, "FAIL") and "cloudtrail.trail_logging" in resolved
        assert now["delta"]["new"] == [] and now["delta"]["since"] == json.loads(saved.stdout)["summary"]["started"]
        table = cli(aws, "--since", str(previous)).stdout
        assert "Changes: Since " in table and f"0 new failing, {len(resolved)} resolved." in table
        assert "  - resolved cloudtrail.trail_logging 123456789012 us-east-1 trail/management" in table
        previous.write_text("{not json")
        bad = cli(aws, "--since", str(previous))
        assert bad.returncode == 2 and "is not JSON (expected a previous --format json output)" in bad.stderr
    finally:
        previous.unlink(missing_ok=True)
    missing = cli(aws, "--since", str(Path("/nonexistent/previous.json")))
    assert missing.returncode == 2 and "cannot read /nonexistent/previous.json" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("kind", ["new", "still_failing"])
def test_the_schema_refuses_a_passing_entry_where_a_failing_one_belongs(kind: str) -> None:
    d = compare(doc([], "t"), doc([finding("cloudtrail.trail_logging", "PASS")], "u"))
    d[kind] = [d["unchanged"][0] | {"failing_since": "u"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, SCHEMA)


def test_the_home_shows_the_trend_and_metrics_the_last_audits_findings(redis_url: str) -> None:
    from redis import Redis

    from bot.prometheus import render
    from workers.app_home import gather
    from workers.core.settings import Settings
    from workers.slack.messages.home import home
    from workers.state import audits
    from workers.state.transactions import atomic

    conn = Redis.from_url(redis_url)
    conn.flushdb()
    previous = None
    for n, failing in enumerate((1, 3, 2)):
        found = [finding(f"check.{i}", "FAIL") for i in range(failing)]
        report_doc = doc(found, f"2026-12-0{n + 1}T09:00:00Z", f"t{n}")
        report_doc["delta"] = compare(previous, report_doc)
        with atomic(conn) as pipe:
            audits.stage_report(pipe, f"t{n}", report_doc, {"FAIL": failing, "PASS": 4}, "scope")
        previous = report_doc
    assert audits.last_of_scope(conn, "scope")["id"] == "t2"  # type: ignore[index]
    shown = json.dumps(home(gather(conn)), ensure_ascii=False)
    assert "Trend, failing findings over the last 3 audits: 1 → 3 → 2 · last audit: 0 new, 1 resolved" in shown
    text = render(Settings(_env_file=None, REDIS_URL=redis_url))[0].decode()  # type: ignore[call-arg]
    assert 'trail_audit_findings{status="FAIL"} 2.0' in text and 'trail_audit_findings{status="PASS"} 4.0' in text
    assert 'trail_audit_findings_changed{change="resolved"} 1.0' in text
    assert 'trail_audit_findings_changed{change="new"} 0.0' in text
