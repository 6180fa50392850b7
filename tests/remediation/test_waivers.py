"""Waivers that expire: requested in Slack, approved like a fix, shown as WAIVED (Slack, CLI JSON and exit
status, Security Hub, OCSF), ended by the clock's sweep with a note in the thread; alerts are never waivable."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from redis import Redis
from rq import SimpleWorker

from bot.change_requests import from_command
from bot.commands import parse
from demo.fake_account import HOME, FakeAccount, compliant
from demo.slack_standin import SlackStandIn
from workers import cli
from workers.core.settings import Settings
from workers.queue.queues import QUEUES, queue
from workers.remediation import approvals
from workers.remediation.backouts import sweep_due
from workers.resources.findings import Finding
from workers.slack import outbox
from workers.slack.messages.report import report
from workers.state import keys
from workers.state.waivers import in_force


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("waive cloudtrail.trail_logging app", "takes a check"),
        ("waive cloudtrail.trail_logging app 0 because", "positive number of days"),
        ("waive cloudtrail.trail_logging app ten because", "positive number of days"),
        ("waive alert 3f9a0c1d2b4e5f60 7 noisy", "Alerts cannot be waived"),
        ("waive 3f9a0c1d2b4e5f60 app 7 noisy", "Alerts cannot be waived"),
    ],
)
def test_bad_waivers_get_a_clear_answer(text: str, problem: str) -> None:
    cmd = parse(text)
    assert cmd.name == "help" and cmd.problem and problem in cmd.problem


def work(conn: Redis, settings: Settings) -> None:
    SimpleWorker([queue(conn, q) for q in QUEUES], connection=conn).work(burst=True)
    outbox.flush(conn, settings)


def audit(argv: list[str]) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    status = cli.main(["audit", "--regions", HOME, "--no-events", *argv], stdout=out, stderr=io.StringIO())
    return status, json.loads(out.getvalue()) if "--format" in argv else {}


def test_a_waiver_is_approved_shown_honoured_and_expires(
    env: tuple[Redis, Settings, SlackStandIn], settings: Settings
) -> None:
    conn, _, slack = env
    compliant([HOME])
    FakeAccount().client("cloudtrail").stop_logging(Name="management")
    status, before = audit(["--format", "json"])
    failing = [f for f in before["findings"] if f["status"] == "FAIL"]
    assert status == 1 and {f["check"] for f in failing} >= {"cloudtrail.trail_logging"}
    waived_checks = sorted({f["check"] for f in failing})
    requests = []
    for check in waived_checks:  # every failing finding waived: the exit status then ignores them all
        resource = "management" if check.startswith("cloudtrail.trail_") else "123456789012"
        cmd = parse(f"waive {check} {resource} 30 the org trail replaces it next quarter")
        req = from_command(cmd, "U0ALICE", "C0SEC", settings)
        approvals.open_request(conn, req)
        requests.append(req.id)
    work(conn, settings)
    prompts = [c for c in slack.of("chat.postMessage") if "Approval needed: waiver.accept" in c.params["text"]]
    assert len(prompts) == len(waived_checks) and "changes nothing in AWS" in json.dumps(prompts[0].params)
    with pytest.raises(approvals.Refused):
        approvals.decide(conn, requests[0], "U0ALICE", True, ["U0ALICE", "U0BOB"])  # not one's own
    for rid in requests:
        approvals.decide(conn, rid, "U0BOB", True, ["U0ALICE", "U0BOB"])
        approvals.enqueue_execute(conn, rid)  # as the bot's Approve listener does
    work(conn, settings)
    assert all(approvals.load(conn, rid).status is approvals.RequestStatus.ACTIVE for rid in requests)
    assert any("Waiver of" in json.dumps(c.params) for c in slack.of("chat.postMessage"))

    status, after = audit(["--format", "json"])
    waived = [f for f in after["findings"] if f.get("waived")]
    assert status == 0 and {f["check"] for f in waived} == set(waived_checks)
    assert all(f["status"] == "FAIL" for f in waived)  # it keeps its status
    assert set(waived[0]["waived"]) >= {"by", "approved_by", "reason", "until"}
    assert waived[0]["waived"]["by"] == "U0ALICE" and waived[0]["waived"]["approved_by"] == "U0BOB"

    message, _ = report({"findings": after["findings"], "summary": after["summary"]})
    assert "waived by" in json.dumps(message) and not message["text"].startswith("FAIL")

    assert audit(["--export", "securityhub"])[0] == 0
    hub = boto3.client("securityhub", region_name=HOME)
    held = {f["Id"]: f for page in hub.get_paginator("get_findings").paginate() for f in page["Findings"]}
    uids = {Finding.from_dict(f).uid for f in waived}
    assert all(held[uid]["Workflow"]["Status"] == "SUPPRESSED" for uid in uids)
    status, ocsf = audit(["--format", "ocsf"])
    suppressed = {e["finding_info"]["uid"] for e in ocsf if e["status"] == "Suppressed"}
    assert suppressed == uids and status == 0

    conn.zadd(keys.WAIVERS_DUE, dict.fromkeys(requests, 0))  # their time is up
    assert sweep_due()["waivers_ended"] == len(requests)
    assert sweep_due()["waivers_ended"] == 0  # once
    outbox.flush(conn, settings)
    ended = [c for c in slack.of("chat.postMessage") if "waiver of" in c.params["text"].lower()
             and "ended" in c.params["text"]]  # fmt: skip
    assert len(ended) == len(requests) and all(c.params.get("thread_ts") for c in ended)
    assert all(approvals.load(conn, rid).status is approvals.RequestStatus.EXPIRED for rid in requests)
    assert in_force(conn) == {} and audit(["--format", "json"])[0] == 1  # counted again
