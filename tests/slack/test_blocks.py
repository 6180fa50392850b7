"""The Block Kit builders, directly: content, ordering and Slack's limits."""

from __future__ import annotations

import json
from typing import Any

from workers.slack.messages.answers import usage
from workers.slack.messages.kit import MAX_BLOCKS, MAX_BUTTON_TEXT, MAX_HEADER, MAX_SECTION
from workers.slack.messages.report import events, report

CHECKS = ["cloudtrail.trail_logging", "cloudtrail.trail_management_events", "config.recorder_recording"]


def finding(i: int, status: str, account: str, region: str) -> dict[str, Any]:
    return {
        "check": CHECKS[i % 3], "status": status, "account": account, "region": region,
        "resource": f"arn:aws:cloudtrail:{region}:{account}:trail/trail-{i:02d}-" + "x" * 40,
        "detail": "Trail is not logging: no API activity is recorded by it. " * 3,
        "remediation": "cloudtrail.start_logging" if status == "FAIL" else None, "evidence": {},
    }  # fmt: skip


def big_report() -> dict[str, Any]:
    accounts = ["111111111111", "222222222222", "333333333333"]
    regions = [f"r-{i}" for i in range(17)]
    findings = []
    for a in accounts:
        for r in regions:
            for t in range(20):
                status = ("FAIL", "ERROR", "PASS", "PASS")[(t + len(r)) % 4]
                findings.append(finding(t, status, a, r))
    return {"findings": findings, "summary": {"accounts": accounts, "regions": regions}}


def all_texts(node: Any) -> list[tuple[str, str]]:
    """(kind, text) for every text object in a block tree."""
    found = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
            found.append((node["type"], node["text"]))
        for value in node.values():
            found.extend(all_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(all_texts(value))
    return found


def test_big_report_keeps_every_slack_limit_and_loses_nothing() -> None:
    doc = big_report()
    fix_ids = {i: f"fix-{i}" for i, f in enumerate(doc["findings"]) if f["status"] == "FAIL"}
    message, thread = report(doc, fix_ids)
    for msg in [message, *thread]:
        assert 0 < len(msg["blocks"]) <= MAX_BLOCKS
        for block in msg["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= MAX_SECTION
            if "accessory" in block:
                assert len(block["accessory"]["text"]["text"]) <= MAX_BUTTON_TEXT
        assert len(json.dumps(msg)) < 50_000
    listed = [
        b["text"]["text"]
        for msg in [message, *thread]
        for b in msg["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith((":red_circle:", ":warning:"))
    ]
    attention = sum(1 for f in doc["findings"] if f["status"] in ("FAIL", "ERROR"))
    assert len(listed) == attention and thread  # each failing or unverifiable finding once; the rest in the thread


def test_failures_come_first_and_fixes_carry_only_an_opaque_id() -> None:
    doc = {
        "findings": [
            finding(0, "PASS", "1", "us-east-1"),
            finding(1, "ERROR", "1", "us-east-1"),
            finding(2, "FAIL", "1", "eu-west-1"),
        ],
        "summary": {"accounts": ["1"], "regions": ["a", "b"]},
    }
    message, thread = report(doc, {2: "req-7f3a"})
    assert thread == []
    kinds = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert kinds[0].startswith(":red_circle:") and kinds[1].startswith(":warning:")
    assert message["blocks"][0]["text"]["text"].startswith("FAIL")
    buttons = [b["accessory"] for b in message["blocks"] if "accessory" in b]
    assert [(b["value"], b["action_id"]) for b in buttons] == [("req-7f3a", "request_fix")]
    assert "cloudtrail.trail_logging (1 pass)" in kinds[-1]  # passing checks folded into one line


def test_usage_is_ephemeral_and_names_the_problem() -> None:
    msg = usage("Unknown subcommand `luanch`.")
    assert msg["response_type"] == "ephemeral" and "luanch" in msg["text"] and "/trail-audit events" in msg["text"]


def test_events_message() -> None:
    doc = {
        "hours": 24,
        "events": [
            {
                "time": "2026-11-27T11:55:00+00:00",
                "name": "StopLogging",
                "account": "1",
                "region": "us-east-1",
                "actor": "arn:aws:sts::1:assumed-role/A/mallory",
                "source_ip": "203.0.113.66",
                "failed": True,
                "error_code": "AccessDenied",
            }
        ],
        "errors": [],
    }
    msg = events(doc)
    text = json.dumps(msg)
    assert "StopLogging" in text and "mallory" in text and "203.0.113.66" in text and "AccessDenied" in text


def test_status_names_last_audit_and_pending_requests() -> None:
    from workers.slack.messages.status import status

    pending = [{"id": "ab12", "action": "cloudtrail.start_logging", "resource": "app", "requester": "U0ALICE"}]
    text = status(2, 1, {"finished": 0, "counts": {"FAIL": 3, "PASS": 9}}, pending)["text"]
    assert "Queue: 2 waiting · workers: 1" in text and "1970-01-01 00:00 UTC (3 fail, 9 pass)" in text
    assert "Pending approvals: 1" in text and "`ab12` cloudtrail.start_logging on `app` by <@U0ALICE>" in text
    assert "Last audit: none yet" in status(0, 0, None, [])["text"]


def test_log_entries_newest_first_within_limits() -> None:
    from workers.slack.messages.kit import MAX_SECTION
    from workers.slack.messages.status import log_entries

    entries = [{"at": "0", "event": "approved", "request": "ab12", "actor": "U0BOB", "detail": {"action": "x"}}] * 200
    message = log_entries(entries)
    assert message["text"].startswith("`1970-01-01 00:00:00` *approved* `ab12` <@U0BOB> action=x")
    assert len(message["blocks"][0]["text"]["text"]) <= MAX_SECTION
    assert log_entries([])["text"] == "The audit log is empty."


def test_parse_log_and_its_bad_forms() -> None:
    from bot.commands import parse

    assert parse("log").count == 20 and parse("log 5").count == 5
    assert parse("log 0").problem and parse("log many").problem and parse("log 1 2").problem


def test_usage_names_every_subcommand() -> None:
    from bot.commands import SUBCOMMANDS

    text = usage()["text"]
    assert all(f"/trail-audit {name}" in text for name in SUBCOMMANDS if name != "audit")
    assert len(text) <= MAX_SECTION


def test_a_thousand_accounts_roll_up_within_slacks_limits() -> None:
    findings = []
    for n in range(1000):
        account = f"{n:012d}"
        status = "FAIL" if n % 3 == 0 else ("ERROR" if n % 3 == 1 else "PASS")
        findings += [{"check": "cloudtrail.trail_logging", "status": status, "account": account, "region": "us-east-1",
                      "resource": "t", "detail": "d", "remediation": None}]  # fmt: skip
    doc = {"id": "a1", "findings": findings, "summary": {"accounts": [f"{n:012d}" for n in range(1000)],
                                             "unreachable": ["000000000001"], "regions": ["us-east-1"]}}  # fmt: skip
    message, thread = report(doc)
    assert thread == [] and len(message["blocks"]) <= MAX_BLOCKS
    assert all(len(text) <= MAX_SECTION for _, text in all_texts(message))
    assert len(message["blocks"][0]["text"]["text"]) <= MAX_HEADER
    shown = json.dumps(message, ensure_ascii=False)
    assert "667 accounts need attention · 333 clean · 999 of 1000 accounts covered" in shown
    assert "`000000000000`: 1 failing, 0 unverifiable" in shown  # the worst first
    assert "`000000000001` not reached" in shown or "more accounts" in shown
    assert message["text"].startswith("FAIL: 667 of 1000 accounts need attention")
    [menu] = [b["elements"][0] for b in message["blocks"] if b["type"] == "actions"]
    assert len(menu["options"]) == 100 and menu["options"][0]["value"] == "a1:000000000000"  # the worst first


def test_the_home_tab_stays_within_slacks_limits_for_a_thousand_accounts() -> None:
    from workers.slack.messages.home import MAX_HOME_BLOCKS, home

    findings = [
        {
            "check": "cloudtrail.trail_logging",
            "status": "FAIL" if n % 2 else "PASS",
            "account": f"{n:012d}",
            "region": "us-east-1",
            "resource": "t",
            "detail": "d",
            "remediation": None,
        }
        for n in range(1000)
    ]
    findings[1]["waived"] = {"by": "U0A", "approved_by": "U0B", "reason": "r", "until": "2027-01-01T00:00:00Z"}
    request = {"id": "r1", "action": "cloudtrail.start_logging", "resource": "arn:aws:cloudtrail:x" * 20,
               "requester": "U0A", "expires": 1.8e9, "deadline": 1.8e9}  # fmt: skip
    state = {
        "now": 1.8e9,
        "last_audit": {"id": "a1", "finished": 1.8e9, "counts": {"FAIL": 500, "PASS": 500}},
        "report": {"findings": findings},
        "alerts": [
            {
                "title": "<!channel> Trail t stopped logging " * 5,
                "account": f"{n:012d}",
                "region": "us-east-1",
                "status": "open",
            }
            for n in range(300)
        ],
        "pending": [request] * 200,
        "active": [request | {"action": "backout.management_events_off"}] * 200,
        "waivers": [
            {
                "check": "cloudtrail.trail_logging",
                "resource": "t",
                "until_iso": "2027-01-01T00:00:00Z",
                "reason": "r" * 600,
                "requester": "U0A",
                "approver": "U0B",
            }
        ]
        * 200,
        "monitor": ["Monitor: 990 of 1000 accounts covered"] * 100,
        "event_path": [":warning: not watched: 000000000001: x"] * 100,
    }
    view = home(state)
    assert view["type"] == "home" and len(view["blocks"]) <= MAX_HOME_BLOCKS
    assert all(len(text) <= MAX_SECTION for _, text in all_texts(view))
    shown = json.dumps(view)
    assert "and 479 more accounts that need attention" in shown and "501 accounts clean" in shown  # one waived
    assert "and 290 more" in shown and "&lt;!channel&gt;" in shown  # counted, and escaped
    empty = home({"now": 1.8e9})
    assert "No audit yet" in json.dumps(empty) and len(empty["blocks"]) <= MAX_HOME_BLOCKS
