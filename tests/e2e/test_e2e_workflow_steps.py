"""Workflow Builder custom steps on real processes (web, worker, clock, a real redis-server, moto, the Slack
stand-in): signed `function_executed` events as Slack sends them; the stand-in records
`functions.completeSuccess` and `functions.completeError` (made with the step's own token)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from demo.fake_account import demo_account
from demo.servers import Moto, start_redis
from demo.signing import event_body, function_event, post
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from tests.e2e.test_e2e_approvals import SECRET, SETTINGS, click, prompt_of
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until
from workers.state import keys

pytestmark = pytest.mark.e2e
MANIFEST_OUTPUTS = {name: set(f["output_parameters"]["properties"])
                    for name, f in json.loads((ROOT / "manifest.json").read_text())["functions"].items()}


@pytest.fixture
def steps(aws: Moto) -> Iterator[dict[str, Any]]:
    demo_account(["us-east-1"])
    redis = start_redis()
    with SlackStandIn() as slack:
        settings = {**SETTINGS, "TRAIL_AUDIT_REPORT_CHANNEL": "C0REPORTS"}
        stack = Stack(aws.url, redis.url, slack.api_url, SECRET, settings)
        try:
            stack.start()
            yield {"stack": stack, "slack": slack}
        finally:
            stack.stop()
            redis.stop()


def run_step(flow: dict[str, Any], callback_id: str, inputs: dict[str, Any]) -> str:
    """Send the step's event to the web process as Slack does; returns its execution id."""
    execution = f"Fx{time.monotonic_ns()}"
    body = event_body(function_event(callback_id, inputs, execution))
    assert post(flow["stack"].url + "/slack/events", body, SECRET, content_type="application/json")[0] == 200
    return execution


def completed(slack: SlackStandIn, execution: str, timeout: float = 90) -> Call:
    def done() -> list[Call]:
        return [c for c in slack.of("functions.completeSuccess") + slack.of("functions.completeError")
                if c.params.get("function_execution_id") == execution]  # fmt: skip

    calls = wait_until(done, timeout)
    assert len(calls) == 1 and calls[0].params["_token"] == f"xwfp-{execution}-token"  # once, with its token
    return calls[0]


def test_the_audit_step_completes_with_the_counts_and_bad_input_fails_at_once(steps: dict[str, Any]) -> None:
    slack = steps["slack"]
    execution = run_step(steps, "run_audit", {"accounts": "all", "regions": "us-east-1", "user": "U0ALICE"})
    done = completed(slack, execution)
    assert done.method == "functions.completeSuccess"
    outputs = json.loads(done.params["outputs"]) if isinstance(done.params["outputs"], str) else done.params["outputs"]
    assert set(outputs) == MANIFEST_OUTPUTS["run_audit"] and outputs["report_channel"] == "C0REPORTS"
    assert outputs["failing"] >= 1  # the demo account's stopped trail
    report = [c for c in slack.of("chat.update") if c.params.get("channel") == "C0REPORTS"]
    assert report and f"{outputs['failing']} failing" in report[-1].params["text"]
    bad = completed(slack, run_step(steps, "run_audit", {"accounts": "12345", "regions": ""}), 20)
    assert bad.method == "functions.completeError" and "not an account id: 12345" in bad.params["error"]
    nowhere = completed(slack, run_step(steps, "run_audit", {"regions": "mars-1"}), 20)
    assert nowhere.method == "functions.completeError" and "mars-1" in nowhere.params["error"]


def request_of(flow: dict[str, Any], execution: str) -> str:
    """The request a backout step opened (what its execution waits for)."""
    found = wait_until(lambda: flow["stack"].redis().hget(keys.function_step(execution), "subject"), 30)
    return str(found.decode())


def test_the_backout_step_goes_through_approval_and_completes_with_the_decision(steps: dict[str, Any]) -> None:
    slack = steps["slack"]
    inputs = {"kind": "trail", "target": "management", "minutes": 5, "reason": "tuning data events",
              "requester": "U0ALICE"}  # fmt: skip
    approved = run_step(steps, "request_backout", inputs)
    rid = request_of(steps, approved)
    with pytest.raises(AssertionError):  # nothing is completed before the decision
        completed(slack, approved, 3)
    click(steps, "approve", rid, "U0BOB", prompt_of(slack, rid))
    done = completed(slack, approved)
    outputs = json.loads(done.params["outputs"]) if isinstance(done.params["outputs"], str) else done.params["outputs"]
    assert done.method == "functions.completeSuccess" and outputs == {"request_id": rid, "status": "backout active"}
    assert set(outputs) == MANIFEST_OUTPUTS["request_backout"]
    denied = run_step(steps, "request_backout", {**inputs, "target": "app-audit"})
    other = request_of(steps, denied)
    click(steps, "deny", other, "U0BOB", prompt_of(slack, other))
    refused = completed(slack, denied)
    assert refused.method == "functions.completeError"
    assert refused.params["error"] == f"the backout request {other} was denied"
    bad = completed(slack, run_step(steps, "request_backout", {**inputs, "minutes": "soon"}), 20)
    assert bad.method == "functions.completeError"
    assert bad.params["error"] == "minutes must be a whole number, not 'soon'"
    wrong = completed(slack, run_step(steps, "request_backout", {**inputs, "kind": "bucket"}), 20)
    assert wrong.params["error"] == "kind must be trail or recorder, not 'bucket'"
    slack.users["U0GUEST"] = {"is_restricted": True}  # a guest asks through a workflow: refused as in the command
    guest = completed(slack, run_step(steps, "request_backout", {**inputs, "requester": "U0GUEST"}), 20)
    assert guest.params["error"] == "Guests and users of other workspaces cannot use trail-audit."
