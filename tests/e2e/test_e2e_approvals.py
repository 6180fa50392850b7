"""End to end, the approval flow: real web process, worker and cron scheduler (the Procfile), a real
redis-server, a moto server and the Slack stand-in. Clicks and dialogs are signed as Slack signs them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis as RedisClient

from bench.latency_proxy import LatencyProxy
from demo.fake_account import ACCOUNT, FakeAccount, demo_account
from demo.servers import Moto, start_redis
from demo.signing import action_body, post, slash_body, view_body
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from tests.helpers.waiting import wait_until
from workers.remediation import approvals
from workers.state import auditlog

pytestmark = pytest.mark.e2e
SECRET = "e2e-signing-secret"
ALERTS = "C0ALERTS"
SETTINGS = {"TRAIL_AUDIT_REGIONS": "us-east-1", "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS, "TRAIL_AUDIT_SWEEP_SECONDS": "1",
            "TRAIL_AUDIT_WATCHDOG_STALE_SECONDS": "6",
            "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB,U0CAROL",
            "TRAIL_AUDIT_USER_REQUESTS_PER_MINUTE": "100"}  # the shared stack's tests make many  # fmt: skip
APP_AUDIT = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/app-audit"
MANAGEMENT = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management"


def whole_stack(aws_url: str) -> Iterator[dict[str, Any]]:
    redis = start_redis()
    with SlackStandIn() as slack:
        stack = Stack(aws_url, redis.url, slack.api_url, SECRET, SETTINGS)
        try:
            stack.start()
            yield {"stack": stack, "slack": slack, "redis": redis}
        finally:
            stack.stop()
            redis.stop()


@pytest.fixture(scope="module")
def shared(moto: Moto) -> Iterator[dict[str, Any]]:
    """One stack for the tests that only add to its state (each request has its own id)."""
    yield from whole_stack(moto.url)


@pytest.fixture
def flow(aws: Moto, shared: dict[str, Any]) -> dict[str, Any]:
    """The shared stack, on a fresh demo account, with a Slack stand-in that has seen nothing yet."""
    demo_account(["us-east-1"])
    shared["slack"].reset()
    return {**shared, "aws": aws}


@pytest.fixture
def own_flow(aws: Moto) -> Iterator[dict[str, Any]]:
    """A stack of its own, for a test that stops and restarts it."""
    demo_account(["us-east-1"])
    yield from whole_stack(aws.url)


def command(flow: dict[str, Any], text: str, user: str) -> dict[str, Any]:
    status, answer = post(flow["stack"].url + "/slack/events", slash_body(text, user=user), SECRET)
    assert status == 200
    return dict(json.loads(answer))


def click(flow: dict[str, Any], action: str, request_id: str, user: str, prompt: Call, landed: bool = True) -> str:
    """Click a button of a posted message (`prompt`) as `user`, in the channel and on the message it was posted
    to, once the bot knows where it landed (unless `landed` is False); returns the response_url name the answer
    (if any) goes to."""
    name = f"{action}-{user}-{time.monotonic_ns()}"
    ts = prompt.params.get("_ts") or prompt.params.get("ts") or "1.0"  # a post's answered ts, or an update's
    if landed:
        flow["stack"].landed(ts)
    body = action_body(action, request_id, user, prompt.params.get("channel") or ALERTS, ts,
                       flow["slack"].response_url(name))  # fmt: skip
    assert post(flow["stack"].url + "/slack/events", body, SECRET)[0] == 200
    return name


def answer_to(slack: SlackStandIn, name: str) -> str:
    calls = wait_until(lambda: [c for c in slack.of("response_url") if c.params["response_url"].endswith(name)], 10)
    return str(calls[-1].params["text"])


def prompt_of(slack: SlackStandIn, request_id: str) -> Call:
    """The approval prompt of a request (a top-level message in the alert channel)."""

    def find() -> list[Call]:
        return [
            c
            for c in slack.of("chat.postMessage")
            if c.params["channel"] == ALERTS
            and not c.params.get("thread_ts")
            and request_id in json.dumps(c.params.get("blocks"))
        ]

    return wait_until(find, 30)[0]


def thread_text(slack: SlackStandIn) -> str:
    return "\n".join(c.params.get("text", "") for c in slack.of("chat.postMessage") if c.params.get("thread_ts"))


def request_id_in(answer: dict[str, Any]) -> str:
    return str(answer["text"].split("`")[1])


def test_fix_requested_refused_to_its_requester_approved_by_another_executed_and_rechecked(
    flow: dict[str, Any],
) -> None:
    slack: SlackStandIn = flow["slack"]
    answer = command(flow, "remediate cloudtrail.trail_logging app-audit it was stopped by mistake", "U0ALICE")
    rid = request_id_in(answer)
    prompt = prompt_of(slack, rid)
    shown = json.dumps(prompt.params["blocks"])
    assert "cloudtrail:StartLogging" in shown and APP_AUDIT in shown and "it was stopped by mistake" in shown
    assert "expires" in shown and '"confirm"' in shown

    assert "another approver" in answer_to(slack, click(flow, "approve", rid, "U0ALICE", prompt))
    assert "configured approvers" in answer_to(slack, click(flow, "approve", rid, "U0MALLORY", prompt))
    assert "no request" in answer_to(slack, click(flow, "approve", "0123456789abcdef", "U0BOB", prompt))
    click(flow, "approve", rid, "U0BOB", prompt)

    wait_until(lambda: "Re-check" in thread_text(slack) and "PASS" in thread_text(slack))
    assert FakeAccount().client("cloudtrail").get_trail_status(Name=APP_AUDIT)["IsLogging"] is True
    conn = RedisClient.from_url(flow["redis"].url)
    assert approvals.load(conn, rid).status is approvals.RequestStatus.DONE
    events = [e["event"] for e in auditlog.newest(conn, 50) if e["request"] == rid]
    assert {"requested", "prompted", "approved", "executing", "api_call", "executed"} <= set(events)
    updates = [c for c in slack.of("chat.update") if rid in json.dumps(c.params.get("blocks"))]
    assert updates and "approved by <@U0BOB>" in json.dumps([u.params for u in updates])
    replay = answer_to(slack, click(flow, "approve", rid, "U0CAROL", prompt))
    assert "already approved by <@U0BOB>" in replay


def test_request_fix_button_asks_for_a_reason_in_a_dialog(flow: dict[str, Any]) -> None:
    slack: SlackStandIn = flow["slack"]
    command(flow, "audit us-east-1", "U0ALICE")
    report = wait_until(lambda: [c for c in slack.of("chat.update") if c.params["text"].startswith("FAIL")])[-1]
    buttons = {
        b["text"]["text"].split("*")[1]: b["accessory"]["value"]
        for b in report.params["blocks"]
        if b.get("accessory", {}).get("action_id") == "request_fix"
    }
    assert {"cloudtrail.trail_logging", "cloudtrail.config_change_alarm"} <= set(buttons)

    def request(check: str, reason: str) -> None:
        opened = len(slack.of("views.open"))
        click(flow, "request_fix", buttons[check], "U0ALICE", report)
        dialog = wait_until(lambda: slack.of("views.open")[opened:])[-1].params["view"]
        assert dialog["callback_id"] == "request_reason" and check in json.dumps(dialog["blocks"])
        body = view_body("request_reason", dialog["private_metadata"], reason, "U0ALICE")
        assert post(flow["stack"].url + "/slack/events", body, SECRET)[0] == 200

    request("cloudtrail.trail_logging", "found in the weekly audit")
    wait_until(lambda: [c for c in slack.of("chat.postMessage") if c.params["channel"] == ALERTS
                        and "found in the weekly audit" in json.dumps(c.params.get("blocks"))])  # fmt: skip
    # a fix that cannot be planned here tells the requester why, and prompts nobody
    request("cloudtrail.config_change_alarm", "no alarm on trail changes")
    told = wait_until(lambda: [c for c in slack.of("chat.postEphemeral") if "cannot be planned" in c.params["text"]])
    assert "TRAIL_AUDIT_ALARM_TOPIC_ARN" in told[-1].params["text"] and told[-1].params["user"] == "U0ALICE"


def test_deny_closes_the_request_and_tells_the_requester(flow: dict[str, Any]) -> None:
    slack: SlackStandIn = flow["slack"]
    rid = request_id_in(command(flow, "remediate config.recorder_recording us-east-1 please", "U0ALICE"))
    click(flow, "deny", rid, "U0CAROL", prompt_of(slack, rid))
    told = wait_until(
        lambda: [c for c in slack.of("chat.postEphemeral") if "was denied by <@U0CAROL>" in c.params["text"]]
    )
    assert told[-1].params["user"] == "U0ALICE"
    conn = RedisClient.from_url(flow["redis"].url)
    assert approvals.load(conn, rid).status is approvals.RequestStatus.DENIED
    assert "denied by <@U0CAROL>" in json.dumps([c.params for c in slack.of("chat.update")])


def test_bad_requests_get_clear_answers(flow: dict[str, Any]) -> None:
    assert "Unknown check" in command(flow, "remediate cloudtrail.nope x y", "U0ALICE")["text"]
    assert "Checks with a fix" in command(flow, "remediate config.delivery_channel us-east-1 y", "U0ALICE")["text"]
    assert "needs a reason" in command(flow, "backout app-audit 10", "U0ALICE")["text"]
    assert "at most 240 minutes" in command(flow, "backout app-audit 9999 because", "U0ALICE")["text"]
    assert "no request" in command(flow, "reenable 0123456789abcdef", "U0ALICE")["text"]


def selectors(arn: str) -> dict[str, Any]:
    answer = FakeAccount().client("cloudtrail").get_event_selectors(TrailName=arn)
    return {k: answer.get(k) or [] for k in ("EventSelectors", "AdvancedEventSelectors")}


def test_backout_survives_redis_and_bot_restarts_and_is_restored_exactly_at_its_deadline(
    own_flow: dict[str, Any],
) -> None:
    flow = own_flow
    slack: SlackStandIn = flow["slack"]
    stack: Stack = flow["stack"]
    data = {"ReadWriteType": "All", "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payments-data/"]}]}  # fmt: skip
    FakeAccount().client("cloudtrail").put_event_selectors(TrailName=MANAGEMENT, EventSelectors=[data])
    before = selectors(MANAGEMENT)
    rid = request_id_in(command(flow, "backout management 0.4 selectors flood the log bucket", "U0ALICE"))
    waiting = request_id_in(command(flow, "remediate cloudtrail.trail_log_file_validation app-audit tamper", "U0ALICE"))
    prompt = prompt_of(slack, rid)
    assert "Deadline" in json.dumps(
        prompt.params["blocks"]
    ) and "Management events or Config recording will be OFF" in json.dumps(prompt.params["blocks"])
    prompt_of(slack, waiting)
    click(flow, "approve", rid, "U0BOB", prompt)
    conn = RedisClient.from_url(flow["redis"].url)
    wait_until(lambda: approvals.load(conn, rid).status is approvals.RequestStatus.ACTIVE)
    assert selectors(MANAGEMENT)["EventSelectors"][0]["IncludeManagementEvents"] is False
    assert selectors(MANAGEMENT)["EventSelectors"][0]["DataResources"] == data["DataResources"]

    old = flow["redis"]
    stack.stop()
    old.stop(keep_data=True)
    redis = start_redis(old.directory, old.port, owned=True)  # the same data directory: its append-only file
    try:
        stack.start()
        status = wait_until(
            lambda: (lambda t: t if "workers: 1" in t else None)(command(flow, "status", "U0CAROL")["text"])
        )
        assert f"`{waiting}`" in status and "Pending approvals: 1" in status
        assert f"`{rid}`" in status and "Active backouts: 1" in status
        wait_until(lambda: selectors(MANAGEMENT) == before, timeout=60)
        conn = RedisClient.from_url(redis.url)
        wait_until(lambda: approvals.load(conn, rid).status is approvals.RequestStatus.RESTORED)
        wait_until(lambda: "restored at its deadline" in json.dumps([c.params for c in slack.of("chat.update")]))
        assert [e["event"] for e in auditlog.newest(conn, 100) if e["request"] == rid].count("reenabled") == 1
        assert f"backout `{rid}` ends at" in thread_text(slack)  # the reminder before the deadline
    finally:
        stack.stop()
        redis.stop()


def test_reenable_early_needs_no_second_person_and_is_logged(flow: dict[str, Any]) -> None:
    slack: SlackStandIn = flow["slack"]
    rid = request_id_in(command(flow, "backout recorder us-east-1 30 config costs spike", "U0ALICE"))
    click(flow, "approve", rid, "U0BOB", prompt_of(slack, rid))
    conn = RedisClient.from_url(flow["redis"].url)
    wait_until(lambda: approvals.load(conn, rid).status is approvals.RequestStatus.ACTIVE)
    cfg = FakeAccount().client("config")
    assert cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"] is False
    assert "Restoring" in command(flow, f"reenable {rid}", "U0ALICE")["text"]
    wait_until(lambda: approvals.load(conn, rid).status is approvals.RequestStatus.RESTORED)
    assert cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"] is True
    entry = next(e for e in auditlog.newest(conn, 100) if e["event"] == "reenabled")
    assert entry["actor"] == "U0ALICE" and entry["detail"]["when"] == "early by <@U0ALICE>"
    assert "not an active backout" in command(flow, f"reenable {rid}", "U0ALICE")["text"]


def test_worker_killed_during_a_remediation_ends_failed_state_unknown_with_a_fresh_recheck(aws: Moto) -> None:
    demo_account(["us-east-1"])
    redis = start_redis()
    with SlackStandIn() as slack, LatencyProxy(aws.url, 1.5) as slow_aws:
        stack = Stack(slow_aws, redis.url, slack.api_url, SECRET, SETTINGS)
        flow = {"stack": stack, "slack": slack}
        try:
            stack.start()
            rid = request_id_in(command(flow, "remediate cloudtrail.trail_logging app-audit stopped", "U0ALICE"))
            click(flow, "approve", rid, "U0BOB", prompt_of(slack, rid))
            conn = RedisClient.from_url(redis.url)
            wait_until(lambda: approvals.load(conn, rid).status is approvals.RequestStatus.EXECUTING)
            stack.kill("worker")
            stack.start("worker")  # as a process supervisor would
            wait_until(lambda: "failed, state unknown" in thread_text(slack) and "*Re-check*" in thread_text(slack), 60)
            assert approvals.load(conn, rid).status is approvals.RequestStatus.RECHECKED  # unknown, then re-checked
            events = [e["event"] for e in auditlog.newest(conn, 50) if e["request"] == rid]
            assert "execution_failed" in events and "rechecked" in events
        finally:
            stack.stop()
            redis.stop()


def test_outside_text_is_shown_not_acted_on_and_a_click_stays_with_its_prompt(flow: dict[str, Any]) -> None:
    slack: SlackStandIn = flow["slack"]
    hostile = "<!channel> see <https://evil.example|runbook>"
    a = request_id_in(command(flow, f"remediate cloudtrail.trail_logging app-audit {hostile}", "U0ALICE"))
    b = request_id_in(command(flow, "remediate config.recorder_recording us-east-1 second", "U0ALICE"))
    prompt_a, prompt_b = prompt_of(slack, a), prompt_of(slack, b)
    shown = json.dumps(prompt_a.params)
    assert "&lt;!channel&gt; see &lt;https://evil.example|runbook&gt;" in shown
    assert "<!channel>" not in shown and "<https://evil" not in shown
    told = answer_to(slack, click(flow, "approve", b, "U0BOB", prompt_a))  # prompt A's message, B's id
    assert "does not belong to this message" in told
    conn = RedisClient.from_url(flow["redis"].url)
    assert approvals.load(conn, b).status is approvals.RequestStatus.PENDING
    click(flow, "deny", b, "U0BOB", prompt_b)
    wait_until(lambda: approvals.load(conn, b).status is approvals.RequestStatus.DENIED)
