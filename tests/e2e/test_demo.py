"""`make demo` and its transcript."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from demo.servers import clean_env
from demo.transcript import BUILDER, builder_link, plain, render
from tests.helpers import ROOT
from workers.slack.messages.answers import failed
from workers.slack.messages.kit import button, section


def test_a_builder_link_carries_the_exact_blocks() -> None:
    message = failed("it timed out after 300 seconds")
    link = builder_link(message["blocks"])
    assert link.startswith(BUILDER)
    assert json.loads(unquote(link[len(BUILDER) :])) == {"blocks": message["blocks"]}


def test_render_reads_like_the_channel() -> None:
    lines = render([
        {"type": "header", "text": {"type": "plain_text", "text": "FAIL: trail-audit"}},
        section(":red_circle: *cloudtrail.trail_logging* — `app-audit`\nTrail app-audit is not logging."),
        {**section("x"), "accessory": button("Request fix", "request_fix", "id1")},
    ])  # fmt: skip
    assert lines == ["FAIL: TRAIL-AUDIT", "✗ cloudtrail.trail_logging — app-audit",
                     "Trail app-audit is not logging.", "x", "    [ Request fix ]"]  # fmt: skip
    assert plain("*bold* and `code` :x:") == "bold and code ✗"


@pytest.mark.e2e
def test_make_demo_runs_the_whole_flow_offline() -> None:
    env = {**clean_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "@alice types in #secops: /trail-audit" in out and "auditing 0/4 regions" in out
    assert "Trail app-audit is not logging" in out and out.count(BUILDER) >= 10
    # the fix: refused to its requester, approved by another, executed, re-check passing
    steps = [
        "APPROVAL NEEDED: CLOUDTRAIL.START_LOGGING",
        "@alice clicks [ Approve ]",
        "another approver",
        "@bob clicks [ Approve ]",
        "approved by <@U0BOB>",
        "Re-check ✓ PASS: Trail app-audit is logging.",
    ]
    assert [out.index(s) for s in steps] == sorted(out.index(s) for s in steps)
    # the backout: approved, active, restored at its deadline, re-check passing again
    backout = out[out.index("3. A backout") :]
    for text in (
        "BACKOUT.MANAGEMENT_EVENTS_OFF",
        "backout active until",
        "restored at its deadline",
        "Re-check ✓ PASS: Trail management captures read and write management events.",
    ):
        assert text in backout
    log = out[out.index("7. The audit log") :]
    assert "waived" in log and "recovered" in log and "arn:aws:cloudtrail" in out
    # the tamper: alerted as unapproved, restored through approval, recovery told
    tamper = out[out.index("4. Tampering") : out.index("5. A waiver")]
    for text in ("UNAPPROVED CHANGE: TRAIL MANAGEMENT STOPPED LOGGING", "@bob clicks [ Restore ]",
                 "APPROVAL NEEDED: RESTORE.LAST_KNOWN_GOOD", "@alice clicks [ Approve ]",
                 "Recovered: logging is back to yes; restored by trail-audit request"):  # fmt: skip
        assert text in tamper, text
    # pushed through the event queue: the alert names who did it, and the poller's backstop adds no second one
    assert "arn:aws:iam::123456789012:user/mallory" in tamper and "203.0.113.66" in tamper
    alerted = "posts in #oncall-alerts\n   │ UNAPPROVED CHANGE: TRAIL MANAGEMENT STOPPED LOGGING"
    assert tamper.count(alerted) == 1, tamper
    # the waiver: approved by another, in force, and the next report shows the finding as waived, not failing
    waiver = out[out.index("5. A waiver") : out.index("6. The App Home")]
    for text in ("APPROVAL NEEDED: WAIVER.ACCEPT", "@bob clicks [ Approve ]", "waiver in force until", "⛨ 1 waived",
                 "Waived\n"):  # fmt: skip
        assert text in waiver, text
    home = out[out.index("6. The App Home") : out.index("7. The audit log")]
    assert "publishes @alice's Home tab" in home and BUILDER + "%7B%22type%22%3A%22home%22" in home
    assert "Posture" in home and "Waivers" in home and "replaced by the organization" in home
    assert "Traceback" not in proc.stderr
