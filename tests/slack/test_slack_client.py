"""The outbox against the Slack stand-in: a 429 waits for Retry-After, a 5xx backs off, a refusal for good is
given up, logged without the token and shown in status; a channel the bot is not in falls back to the
command's response_url; a thread reply waits for its parent; a newer body replaces an older one."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from redis import Redis as RedisClient

from demo.slack_standin import SlackStandIn
from workers.core.settings import Settings
from workers.slack import outbox
from workers.state import keys, outgoing

TOKEN = "xoxb-1111-2222-secretsecret"


@pytest.fixture
def env(redis_url: str) -> Iterator[tuple[RedisClient, Settings, SlackStandIn]]:
    server = redis_url
    conn = RedisClient.from_url(server)
    conn.flushall()
    with SlackStandIn() as stand_in:
        settings = Settings(_env_file=None, SLACK_API_URL=stand_in.api_url, SLACK_BOT_TOKEN=TOKEN,  # type: ignore[call-arg]
                            REDIS_URL=server, TRAIL_AUDIT_OUTBOX_MAX_BACKOFF=4)  # fmt: skip
        yield conn, settings, stand_in


def due_in(conn: RedisClient, mid: str) -> float:
    return float(conn.zscore(keys.OUTBOX_DUE, mid) or 0) - time.time()


def test_a_429_is_tried_again_after_retry_after(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, stand_in = env
    stand_in.scripted["chat.postMessage"] = [{"status": 429, "retry_after": 30}]
    outbox.send(conn, "m1", "C0AUDIT", {"text": "hi"})
    assert outbox._deliver(settings, conn, "m1").startswith("retry in 30")
    assert 25 < due_in(conn, "m1") <= 30 and stand_in.of("chat.postMessage") == []
    conn.zadd(keys.OUTBOX_DUE, {"m1": 0})
    assert outbox._deliver(settings, conn, "m1") == "delivered"
    assert [c.params["text"] for c in stand_in.of("chat.postMessage")] == ["hi"]
    assert outgoing.where(conn, "m1") is not None and conn.zscore(keys.OUTBOX_DUE, "m1") is None


def test_a_5xx_backs_off_and_delivers_once_slack_is_back(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, stand_in = env
    stand_in.outage(60)
    outbox.send(conn, "m2", "C0AUDIT", {"text": "report"})
    delays = []
    for _ in range(4):
        outbox._deliver(settings, conn, "m2")
        delays.append(due_in(conn, "m2"))
    assert delays[0] < delays[1] and max(delays) <= 4  # backoff grows (2 s, 4 s, ...), capped by the setting
    stand_in.outage(0)
    assert outbox.flush(conn, settings) == 1 and len(stand_in.of("chat.postMessage")) == 1


def test_a_refusal_for_good_is_given_up_logged_without_the_token_and_shown(
    env: tuple[RedisClient, Settings, SlackStandIn], caplog: pytest.LogCaptureFixture
) -> None:
    conn, settings, stand_in = env
    stand_in.scripted["chat.postMessage"] = [{"error": "invalid_blocks"}]
    with caplog.at_level(logging.WARNING, logger="trail_audit.outbox"):
        outbox.send(conn, "m3", "C0AUDIT", {"text": "x", "blocks": [{"type": "nonsense"}]})
        assert outbox._deliver(settings, conn, "m3") == "given up"
    assert any(getattr(r, "reason", None) == "invalid_blocks" for r in caplog.records)
    assert TOKEN not in caplog.text
    lines = outbox.status_lines(conn)
    assert "1 undeliverable" in lines[0] and "invalid_blocks" in lines[1]


def test_a_message_that_fails_too_long_is_given_up(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, stand_in = env
    stand_in.outage(60)
    outbox.send(conn, "m4", "C0AUDIT", {"text": "x"})
    conn.hset(keys.message("m4"), "first", str(time.time() - settings.outbox_retry_seconds - 1))
    assert outbox._deliver(settings, conn, "m4") == "given up"
    assert conn.zscore(keys.OUTBOX_DEAD, "m4") is not None


def test_channel_not_found_falls_back_to_the_response_url(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    conn, settings, stand_in = env
    stand_in.scripted["chat.postMessage"] = [{"error": "channel_not_found"}]
    outbox.send(conn, "m5", "C0GONE", {"text": "report"}, response_url=stand_in.response_url("x"))
    outbox.send(conn, "m5-more", "C0GONE", {"text": "more"}, thread="m5")
    assert outbox.flush(conn, settings) == 2
    assert [c.params["text"] for c in stand_in.of("response_url")] == ["report", "more"]


def test_a_reply_waits_for_its_parent_and_a_newer_body_replaces_the_older(
    env: tuple[RedisClient, Settings, SlackStandIn],
) -> None:
    conn, settings, stand_in = env
    outbox.send(conn, "p", "C0AUDIT", {"text": "v1"})
    outbox.send(conn, "p-reply", "C0AUDIT", {"text": "reply"}, thread="p")
    assert outbox._deliver(settings, conn, "p-reply").startswith("retry")  # its parent is not posted yet
    outbox.send(conn, "p", "C0AUDIT", {"text": "v2"})  # replaced before it ever went out
    assert outbox.flush(conn, settings) == 2
    posts = stand_in.of("chat.postMessage")
    assert [c.params["text"] for c in posts] == ["v2", "reply"]
    assert posts[1].params["thread_ts"] == outgoing.where(conn, "p").ts  # type: ignore[union-attr]
    outbox.send(conn, "p", "C0AUDIT", {"text": "v3"})
    assert outbox.flush(conn, settings) == 1
    assert stand_in.of("chat.update")[-1].params["text"] == "v3" and len(stand_in.of("chat.postMessage")) == 2


def test_a_reports_files_go_in_its_thread(env: tuple[RedisClient, Settings, SlackStandIn]) -> None:
    import csv
    import io
    import json

    conn, settings, stand_in = env
    finding = {"check": "cloudtrail.trail_logging", "status": "FAIL", "account": "111111111111", "region": "us-east-1",
               "resource": "t", "detail": "Trail t, \"quoted\", is not logging.", "remediation": None}  # fmt: skip
    conn.set(keys.audit_report("r1"), json.dumps({"id": "r1", "findings": [finding], "summary": {}}))
    outbox.send(conn, "audit-r1", "C0AUDIT", {"text": "FAIL: 1 of 6 accounts need attention"})
    for kind in ("json", "csv"):
        outbox.send(conn, f"audit-r1-file-{kind}", "C0AUDIT", {"report": "r1", "format": kind}, thread="audit-r1",
                    kind="file")  # fmt: skip
    outbox.flush(conn, settings)
    parent = stand_in.of("chat.postMessage")[0].params["_ts"]
    done = stand_in.of("files.completeUploadExternal")
    assert len(done) == 2 and all(c.params["thread_ts"] == parent and c.params["channel_id"] == "C0AUDIT" for c in done)
    uploads = {c.params["file_id"]: c.params["content"] for c in stand_in.of("file_upload")}
    contents = sorted(uploads.values(), key=len)
    rows = list(csv.reader(io.StringIO(contents[0])))
    assert rows[0][:3] == ["check", "status", "account"] and rows[1][5] == finding["detail"]
    assert json.loads(contents[1])["findings"] == [finding]
