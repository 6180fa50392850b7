"""The web app in process (the WSGI application gunicorn serves), on a real Redis and the Slack stand-in.

Nothing from outside gets a 5xx: unsigned or malformed requests are turned away before anything parses them;
signed ones with odd content get an answer. Then who may do what: the workspace, guests, channels, operators,
acknowledgements, clicks bound to their message, and rate limits.
"""

from __future__ import annotations

import io
import json
import time
import types
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from bot.web import create_wsgi
from demo.signing import action_body, event_body, sign, slash_body
from demo.slack_standin import SlackStandIn
from workers.core.settings import Settings
from workers.remediation import approvals
from workers.slack import outbox
from workers.state import alert_records, keys, machine, outgoing, quota

SECRET = "web-test-secret"
App = Callable[[dict[str, Any], Any], Any]


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


def make_app(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn, **extra: str) -> App:
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url,
           "REDIS_URL": redis_url, "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS", "TRAIL_AUDIT_APPROVERS": "U0BOB,S0LEADS",
           "TRAIL_AUDIT_REGIONS": "us-east-1", **extra}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return create_wsgi()


def fresh_app(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn, **extra: str) -> App:
    """The app over an empty Redis and a Slack stand-in that has forgotten every call, user and group."""
    slack.reset()
    slack.users.clear()
    slack.groups.clear()
    Redis.from_url(redis_url).flushdb()
    return make_app(monkeypatch, redis_url, slack, **extra)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn) -> App:
    return fresh_app(monkeypatch, redis_url, slack)


def call(app: App, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, str]:
    """One request through the WSGI app; its status and body."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/slack/events", "QUERY_STRING": "", "SERVER_NAME": "test",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(body),
               "wsgi.url_scheme": "http", "CONTENT_LENGTH": str(len(body))}  # fmt: skip
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    seen: list[str] = []
    out = b"".join(app(environ, lambda status, _headers, *rest: seen.append(status)))
    return int(seen[0].split()[0]), out.decode("utf-8", "replace")


def signed(
    body: str | bytes, when: int | None = None, content_type: str = "application/x-www-form-urlencoded"
) -> dict[str, str]:
    raw = body if isinstance(body, bytes) else body.encode()
    ts = int(time.time()) if when is None else when
    digest = sign(SECRET, ts, raw.decode("utf-8", "surrogateescape"))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": digest}


def signed_bytes(raw: bytes) -> dict[str, str]:
    import hashlib
    import hmac

    ts = int(time.time())
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": f"v0={digest}"}  # fmt: skip


def command(app: App, text: str, user: str = "U0ALICE", channel: str = "C0AUDIT", team: str = "T1") -> str:
    body = slash_body(text, channel=channel, user=user).replace("team_id=T1", f"team_id={team}")
    status, answer = call(app, body.encode(), signed(body))
    assert status == 200
    return str(json.loads(answer)["text"])


# --- the door ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"text=audit", {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=" + "0" * 64}, 401),
        (b"text=audit", {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é"}, 401),
        (b"text=audit", {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=" + "0" * 64}, 401),
        (b"\xff\xfe\x00garbage", {}, 401),
        (b"payload=%7Bbroken", {}, 401),
    ],
)
def test_unsigned_garbage_is_401_before_anything_parses_it(app: App, body: bytes, headers: dict[str, str],
                                                          expected: int) -> None:  # fmt: skip
    assert call(app, body, headers)[0] == expected


def test_signed_but_unreadable_bodies_are_400(app: App) -> None:
    assert call(app, b"\xff\xfe\x00", signed_bytes(b"\xff\xfe\x00"))[0] == 400  # not UTF-8
    assert call(app, b"{not json", signed(b"{not json", content_type="application/json"))[0] == 400
    assert call(app, b"payload=%7Bbroken", signed(b"payload=%7Bbroken"))[0] == 400
    assert call(app, b"payload=%5B1%5D", signed(b"payload=%5B1%5D"))[0] == 400  # a list, not an object
    assert call(app, b"x" * 300_000, {"Content-Length": "300000"})[0] == 413


def test_a_stale_signature_is_401(app: App) -> None:
    body = slash_body("audit")
    assert call(app, body.encode(), signed(body, when=int(time.time()) - 600))[0] == 401


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=600), headers=st.dictionaries(
    st.sampled_from(["Content-Type", "X-Slack-Request-Timestamp", "X-Slack-Signature", "Content-Length"]),
    st.text(max_size=80)))  # fmt: skip
def test_fuzz_unsigned_requests_never_5xx(app: App, body: bytes, headers: dict[str, str]) -> None:
    status, answer = call(app, body, headers)
    assert status in (400, 401, 411, 413) and "Traceback" not in answer


PAYLOAD = st.fixed_dictionaries(
    {"type": st.sampled_from(["block_actions", "view_submission", "shortcut", "x"])},
    optional={
        "user": st.one_of(st.text(), st.fixed_dictionaries({"id": st.text()})),
        "team": st.one_of(st.none(), st.text(), st.fixed_dictionaries({"id": st.sampled_from(["T1", "T2"])})),
        "actions": st.lists(st.dictionaries(st.sampled_from(["action_id", "value"]), st.text())),
    },
)
SIGNED_BODIES = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=10), st.text(max_size=10))),
    st.builds(lambda p: urlencode({"payload": p}).encode(), st.text(max_size=200)),
    st.builds(lambda d: urlencode({"payload": json.dumps(d)}).encode(), PAYLOAD),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=SIGNED_BODIES)
def test_fuzz_signed_bodies_never_5xx(app: App, body: bytes) -> None:
    status, answer = call(app, body, signed_bytes(body))
    assert status < 500 and "Traceback" not in answer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=120), st.builds(" ".join, st.lists(st.sampled_from(
    ["audit", "events", "log", "status", "remediate", "backout", "reenable", "help", "²", "①", "9" * 4300, "-1",
     "1e400", "nan", "recorder", "eu-west-1", "cloudtrail.trail_logging", "<!channel>", "&amp;", "&lt;"]),
    max_size=6))))  # fmt: skip
def test_fuzz_command_texts_get_an_answer(app: App, text: str, redis_url: str) -> None:
    Redis.from_url(redis_url).delete(*Redis.from_url(redis_url).keys("ta:quota:*") or ["-"])
    body = slash_body(text)
    status, answer = call(app, body.encode(), signed(body))
    assert status == 200 and "Traceback" not in answer
    assert json.loads(answer)["response_type"] == "ephemeral"


def test_request_fix_when_the_dialog_cannot_open_says_so(app: App, slack: SlackStandIn, redis_url: str) -> None:
    from workers.state import fix_offers

    conn = Redis.from_url(redis_url)
    finding = {"check": "cloudtrail.trail_logging", "account": "1", "region": "us-east-1", "resource": "t",
               "remediation": "cloudtrail.start_logging"}  # fmt: skip
    fix = fix_offers.remember(conn, finding, None, "audit-x", "C0AUDIT")
    slack.scripted["views.open"] = [{"error": "expired_trigger_id"}]
    body = action_body("request_fix", fix, "U0ALICE", "C0AUDIT", "5.5", slack.response_url("fix"))
    assert call(app, body.encode(), signed(body))[0] == 200
    told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/fix")]
    assert told and "could not be opened" in told[-1].params["text"]


# --- who may do what ------------------------------------------------------------------------------------------


def test_guests_and_other_workspaces_are_refused(app: App, slack: SlackStandIn) -> None:
    slack.users["U0GUEST"] = {"is_restricted": True}
    slack.users["U0SINGLE"] = {"is_ultra_restricted": True}
    slack.users["U0EXT"] = {"team_id": "T2"}
    slack.users["U0GONE"] = None  # users.info: user_not_found
    for user in ("U0GUEST", "U0SINGLE", "U0EXT", "U0GONE"):
        assert "Guests and users of other workspaces" in command(app, "status", user=user)
    assert "another workspace" in command(app, "status", team="T2")
    assert "Queue:" in command(app, "status")
    assert [c.params["user"] for c in slack.of("users.info")].count("U0ALICE") == 1  # cached after the first


def test_a_click_from_another_workspace_is_refused(app: App, slack: SlackStandIn) -> None:
    body = action_body("approve", "0123456789abcdef", "U0BOB", "C0ALERTS", "1.0", slack.response_url("t2"))
    body = body.replace("%22team_id%22%3A+%22T1%22", "%22team_id%22%3A+%22T2%22")
    assert call(app, body.encode(), signed(body))[0] == 200
    told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/t2")]
    assert "Users of another workspace" in told[-1].params["text"]


def test_channels_and_operators(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn) -> None:
    slack.reset()
    slack.groups["S0OPS"] = ["U0DAVE"]
    app = make_app(monkeypatch, redis_url, slack, TRAIL_AUDIT_CHANNELS="C0AUDIT", TRAIL_AUDIT_OPERATORS="U0ALICE,S0OPS")
    assert "Use `/trail-audit` in <#C0AUDIT>" in command(app, "status", channel="C0RANDOM")
    assert "Only trail-audit's operators" in command(app, "audit", user="U0MALLORY")
    assert "Only trail-audit's operators" in command(app, "log", user="U0MALLORY")
    assert "queued" in command(app, "audit", user="U0DAVE")  # a member of an operators' group
    assert "Queue:" in command(app, "status", user="U0BOB")  # approvers may read status and the log
    assert "Usage" in command(app, "help", user="U0MALLORY")


def test_rate_limits_per_user_and_channel(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn) -> None:
    app = fresh_app(monkeypatch, redis_url, slack, TRAIL_AUDIT_USER_REQUESTS_PER_MINUTE="3",
                    TRAIL_AUDIT_CHANNEL_REQUESTS_PER_MINUTE="5")  # fmt: skip
    minute = (time.time() // 60 + 1) * 60  # the quota counts by the minute: the test must not straddle one
    monkeypatch.setattr(quota, "time", types.SimpleNamespace(time=lambda: minute + 1))
    answers = [command(app, "audit us-east-1") for _ in range(5)]
    assert ["queued" in a for a in answers] == [True, True, True, False, False]
    assert "more than 3 audits or requests a minute for one person" in answers[-1]
    assert "Queue:" in command(app, "status")  # reading is never limited
    others = [command(app, "audit", user=f"U0USER{i}") for i in range(3)]
    assert ["queued" in a for a in others] == [True, True, False]
    assert "in this channel" in others[-1]


def pending_request(conn: Redis, rid: str, requester: str = "U0ALICE") -> None:
    req = approvals.Request(id=rid, action="config.start_recorder", requester=requester, reason="r",
                            account="123456789012", region="us-east-1", resource="us-east-1",
                            expires=time.time() + 600, prompt_channel="C0ALERTS")  # fmt: skip
    machine.create_request(conn, req.id, req.doc())
    assert approvals.move(conn, req, approvals.RequestStatus.PENDING)


def delivered(conn: Redis, message_id: str, channel: str, ts: str) -> None:
    conn.hset(keys.message(message_id), mapping={"posted_channel": channel, "ts": ts})


def test_a_click_must_come_from_its_own_prompt(app: App, slack: SlackStandIn, redis_url: str) -> None:
    conn = Redis.from_url(redis_url)
    for rid, ts in (("aaaa000000000001", "10.1"), ("bbbb000000000002", "20.2")):
        pending_request(conn, rid)
        delivered(conn, approvals.prompt_message_id(rid), "C0ALERTS", ts)
    body = action_body("approve", "bbbb000000000002", "U0BOB", "C0ALERTS", "10.1", slack.response_url("ab"))
    assert call(app, body.encode(), signed(body))[0] == 200  # prompt A's message, request B's id
    told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/ab")]
    assert "does not belong to this message" in told[-1].params["text"]
    assert approvals.load(conn, "bbbb000000000002").status is approvals.RequestStatus.PENDING
    body = action_body("approve", "bbbb000000000002", "U0BOB", "C0OTHER", "20.2", slack.response_url("ch"))
    call(app, body.encode(), signed(body))  # the right ts in another channel
    assert approvals.load(conn, "bbbb000000000002").status is approvals.RequestStatus.PENDING
    body = action_body("approve", "bbbb000000000002", "U0BOB", "C0ALERTS", "20.2", slack.response_url("ok"))
    call(app, body.encode(), signed(body))
    assert approvals.load(conn, "bbbb000000000002").status is approvals.RequestStatus.APPROVED


def test_only_operators_and_approvers_acknowledge(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn
) -> None:
    app = fresh_app(monkeypatch, redis_url, slack, TRAIL_AUDIT_OPERATORS="U0DAVE")
    conn = Redis.from_url(redis_url)
    doc = {"id": "a1b2c3d4", "group": "a1b2c3d4", "account": "1", "region": "us-east-1", "resource": "t",
           "field": "logging", "title": "t stopped logging", "before": True, "after": False, "key": "k",
           "kind": "trail", "created": time.time(), "restorable": False}  # fmt: skip
    pipe = conn.pipeline(transaction=True)
    machine.create_alert(pipe, str(doc["id"]), "k", json.dumps(doc))
    pipe.rpush(keys.alert_group("a1b2c3d4"), "a1b2c3d4")
    pipe.execute()
    delivered(conn, "alert-a1b2c3d4", "C0ALERTS", "30.3")
    for user, name in (("U0MALLORY", "m"), ("U0DAVE", "d")):
        body = action_body("ack_alert", "a1b2c3d4", user, "C0ALERTS", "30.3", slack.response_url(name))
        assert call(app, body.encode(), signed(body))[0] == 200
        if user == "U0MALLORY":
            told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/m")]
            assert "Only trail-audit's operators and approvers" in told[-1].params["text"]
            assert alert_records.load(conn, "a1b2c3d4")["status"] == "open"
    assert alert_records.load(conn, "a1b2c3d4")["acked_by"] == "U0DAVE"
    assert outgoing.where(conn, "alert-a1b2c3d4") is not None


def test_an_accounts_details_come_in_the_reports_thread(app: App, slack: SlackStandIn, redis_url: str) -> None:
    conn = Redis.from_url(redis_url)
    audit = "feedc0de00000001"
    failing = {"check": "cloudtrail.trail_logging", "status": "FAIL", "account": "111111111111", "region": "us-east-1",
               "resource": "arn:aws:cloudtrail:us-east-1:111111111111:trail/t", "detail": "Trail t is not logging.",
               "remediation": "cloudtrail.start_logging", "evidence": {}}  # fmt: skip
    doc = {"id": audit, "findings": [failing, {**failing, "account": "222222222222"}],
           "summary": {"accounts": ["111111111111", "222222222222"]}}  # fmt: skip
    conn.set(keys.audit_report(audit), json.dumps(doc))
    delivered(conn, outbox.report_id(audit), "C0AUDIT", "40.4")
    payload = {"type": "block_actions", "user": {"id": "U0ALICE", "team_id": "T1"}, "team": {"id": "T1"},
               "container": {"type": "message", "message_ts": "40.4", "channel_id": "C0AUDIT"},
               "channel": {"id": "C0AUDIT"}, "message": {"ts": "40.4"}, "trigger_id": "1.2.3",
               "response_url": slack.response_url("details"),
               "actions": [{"action_id": "report_account", "block_id": "report_account", "type": "static_select",
                            "selected_option": {"value": f"{audit}:111111111111"}}]}  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)})
    assert call(app, body.encode(), signed(body))[0] == 200
    staged = conn.hgetall(keys.message(f"{outbox.report_id(audit)}-account-111111111111-0"))
    shown = staged[b"body"].decode()
    assert staged[b"thread"].decode() == outbox.report_id(audit) and staged[b"channel"] == b"C0AUDIT"
    assert "Trail t is not logging." in shown and "request_fix" in shown and "222222222222" not in shown


# --- metrics -------------------------------------------------------------------------------------------------


def scrape(app: App, token: str | None = None) -> tuple[int, str]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", "SERVER_NAME": "test",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""),
               "wsgi.url_scheme": "http"}  # fmt: skip
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    seen: list[str] = []
    out = b"".join(app(environ, lambda status, _headers, *rest: seen.append(status)))
    return int(seen[0].split()[0]), out.decode()


def test_metrics_count_commands_and_read_the_workers_counts_from_redis(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn
) -> None:
    from workers.state import keys, metrics

    conn = Redis.from_url(redis_url)
    metrics.flush(conn)  # what other tests in this process counted
    conn.flushdb()
    app = make_app(monkeypatch, redis_url, slack, TRAIL_AUDIT_METRICS_TOKEN="s3cret")
    assert scrape(app)[0] == 401 and scrape(app, "wrong")[0] == 401
    command(app, "frobnicate")
    command(app, "audit")
    metrics.note("aws_errors", service="cloudtrail", operation="GetTrailStatus", code="AccessDeniedException")
    metrics.note("slack_errors", method="chat_postMessage", error="not_in_channel")
    assert metrics.flush(conn) == 2 and metrics.flush(conn) == 0
    conn.hset(keys.MONITOR_ACCOUNTS, "123456789012", json.dumps({"at": time.time() - 30}))
    status, body = scrape(app, "s3cret")
    assert status == 200
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line and not line.startswith("#")}  # fmt: skip
    assert samples['trail_audit_commands_total{kind="help",outcome="usage"}'] >= 1
    assert samples['trail_audit_commands_total{kind="audit",outcome="queued"}'] >= 1
    assert samples['trail_audit_queue_depth{queue="trail-audit"}'] >= 1  # the queued audit
    assert samples['trail_audit_aws_errors_total{code="AccessDeniedException",operation="GetTrailStatus",'
                   'service="cloudtrail"}'] == 1  # fmt: skip
    assert samples['trail_audit_slack_errors_total{error="not_in_channel",method="chat_postMessage"}'] == 1
    assert 29 <= samples['trail_audit_monitor_cycle_age_seconds{account="123456789012"}'] < 120
    assert samples["trail_audit_redis_up"] == 1 and "trail_audit_outbox_backlog" in samples


# --- App Home ------------------------------------------------------------------------------------------------


def home_opened(app: App, user: str) -> int:
    body = event_body({"type": "app_home_opened", "user": user, "tab": "home", "channel": "D1"})
    return call(app, body.encode(), signed(body, content_type="application/json"))[0]


def test_the_home_tab_is_drawn_on_opening_for_operators_and_kept_current(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn
) -> None:
    from rq import SimpleWorker

    from workers import app_home as home
    from workers.monitor.alerts import raise_alert
    from workers.queue.queues import QUEUES, queue

    app = fresh_app(monkeypatch, redis_url, slack, TRAIL_AUDIT_OPERATORS="U0ALICE")
    conn = Redis.from_url(redis_url)
    slack.users["U0GUEST"] = {"is_restricted": True}
    for user in ("U0ALICE", "U0MALLORY", "U0GUEST"):
        assert home_opened(app, user) == 200
    jobs = queue(conn, "trail-audit-urgent").get_jobs()
    assert [j.args for j in jobs] == [("U0ALICE",)]  # not a stranger to the operators, nor a guest
    SimpleWorker([queue(conn, q) for q in QUEUES], connection=conn).work(burst=True)
    [drawn] = slack.of("views.publish")
    assert drawn.params["user_id"] == "U0ALICE" and "No audit yet" in json.dumps(drawn.params)
    assert home.refresh() == 0  # nothing changed since
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    raise_alert(conn, settings, {"account": "123456789012", "region": "us-east-1", "kind": "trail", "field": "logging",
                                 "resource": "arn:aws:cloudtrail:us-east-1:123456789012:trail/management",
                                 "key": "k1", "title": "Trail management stopped logging", "before": True,
                                 "after": False})  # fmt: skip
    assert home.refresh() == 1 and home.refresh() == 0  # redrawn once after the change
    assert "Trail management stopped logging" in json.dumps(slack.of("views.publish")[-1].params)


def test_slack_can_verify_the_events_url(app: App) -> None:
    body = json.dumps(
        {"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    )
    status, answer = call(app, body.encode(), signed(body, content_type="application/json"))
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in answer
