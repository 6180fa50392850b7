"""End to end: the web process and a worker as the Procfile starts them, a real redis-server, a moto
server and the Slack stand-in. Requests are signed as Slack signs them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from redis import Redis as RedisClient
from rq.job import Job
from rq.registry import StartedJobRegistry

from bench.latency_proxy import LatencyProxy
from demo.fake_account import demo_account
from demo.servers import Moto, clean_env, free_port, start_redis
from demo.signing import post, slash_body
from demo.slack_standin import SlackStandIn
from demo.socket_standin import SocketModeStandIn
from demo.stack import Stack, procfile
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until
from workers.queue import paths
from workers.queue.queues import all_queues, queue

pytestmark = pytest.mark.e2e
SECRET = "e2e-signing-secret"
BIN = Path(os.sys.executable).parent
REGIONS = "us-east-1,eu-west-1,eu-central-1"


@pytest.fixture(scope="module")
def shared(moto: Moto) -> Iterator[dict[str, Any]]:
    """One whole stack for the tests that only add to its state (the processes are the costly part)."""
    redis = start_redis()
    with SlackStandIn(outside={"C0OUTSIDE"}) as slack:
        running = Stack(moto.url, redis.url, slack.api_url, SECRET, {"TRAIL_AUDIT_REGIONS": REGIONS})
        try:
            running.start()
            yield {"url": running.url, "slack": slack, "redis": redis, "stack": running, "env": running.env}
        finally:
            running.stop()
            redis.stop()


@pytest.fixture
def stack(aws: Moto, shared: dict[str, Any]) -> dict[str, Any]:
    """The shared stack, with an empty AWS and a Slack stand-in that has seen nothing yet."""
    shared["slack"].reset()
    return shared


@pytest.fixture(scope="module")
def web(moto: Moto) -> Iterator[dict[str, Any]]:
    """The web process alone (no worker, no clock), shared by the tests it answers by itself: whatever it
    queued stays queued, so "no job" is read from the queues, without waiting."""
    redis = start_redis()
    with SlackStandIn() as slack:
        running = Stack(moto.url, redis.url, slack.api_url, SECRET, {"TRAIL_AUDIT_REGIONS": REGIONS})
        try:
            running.start("web")
            yield {"url": running.url, "slack": slack, "redis": redis}
        finally:
            running.stop()
            redis.stop()


def no_job_queued(redis_url: str) -> bool:
    """Whether every queue is empty (the web process enqueues before it answers)."""
    return all(len(q) == 0 for q in all_queues(RedisClient.from_url(redis_url)))


def queued_and_done(redis_url: str) -> list[Job]:
    """Every job on the queue now, and every job a worker has finished or failed."""
    conn = RedisClient.from_url(redis_url)
    q = queue(conn)
    ids = q.job_ids + q.finished_job_registry.get_job_ids() + q.failed_job_registry.get_job_ids()
    return [j for j in Job.fetch_many(ids, connection=conn) if j is not None]


def test_signed_command_is_acked_fast_and_the_report_names_the_failing_trail(stack: dict[str, Any]) -> None:
    demo_account(["us-east-1", "eu-west-1", "eu-central-1"])
    slack: SlackStandIn = stack["slack"]
    status, text = post(stack["url"] + "/slack/events", slash_body("", response_url=slack.response_url()), SECRET)
    assert status == 200 and "queued" in json.loads(text)["text"]  # how fast: bench/ack_bench.py
    first = wait_until(lambda: slack.of("chat.postMessage"))[0]
    assert "auditing 0/3 regions" in first.params["text"] and first.params["channel"] == "C0AUDIT"

    def finished() -> Any:
        return [c for c in slack.of("chat.update") if "app-audit" in json.dumps(c.params.get("blocks"))]

    report = wait_until(finished)[-1]
    assert report.params["text"].startswith("FAIL")


def test_bot_not_in_channel_falls_back_to_response_url(stack: dict[str, Any]) -> None:
    demo_account(["us-east-1"])
    slack: SlackStandIn = stack["slack"]
    body = slash_body("audit us-east-1", channel="C0OUTSIDE", response_url=slack.response_url("outside"))
    assert post(stack["url"] + "/slack/events", body, SECRET)[0] == 200
    wait_until(lambda: [c for c in slack.of("response_url") if "app-audit" in json.dumps(c.params)])


def test_status_and_log_answer_from_server_side_state(stack: dict[str, Any]) -> None:
    from workers.remediation import approvals
    from workers.state import auditlog, machine

    conn = RedisClient.from_url(stack["redis"].url)
    req = approvals.Request(id="c0ffee00", action="config.start_recorder", requester="U0ALICE", reason="r",
                            account="123456789012", region="eu-central-1", resource="eu-central-1",
                            expires=time.time() + 60)  # fmt: skip
    machine.create_request(conn, req.id, req.doc())
    assert approvals.move(conn, req, approvals.RequestStatus.PENDING)
    auditlog.write(conn, "requested", req.id, "U0ALICE", action=req.action)

    def status() -> str:
        return str(json.loads(post(stack["url"] + "/slack/events", slash_body("status"), SECRET)[1])["text"])

    answer = wait_until(lambda: (lambda t: t if "workers: 1" in t else None)(status()), timeout=30)
    assert "Pending approvals: 1" in answer and "`c0ffee00` config.start_recorder" in answer
    log = json.loads(post(stack["url"] + "/slack/events", slash_body("log 5"), SECRET)[1])["text"]
    assert "*requested* `c0ffee00` <@U0ALICE> action=config.start_recorder" in log


@pytest.mark.parametrize("text", ["launch", "audit not-a-region", "events forever", "status now", "log all"])
def test_bad_input_gets_ephemeral_usage_and_no_job(web: dict[str, Any], text: str) -> None:
    status, answer = post(web["url"] + "/slack/events", slash_body(text), SECRET)
    doc = json.loads(answer)
    assert status == 200 and doc["response_type"] == "ephemeral" and "Usage" in doc["text"]
    assert no_job_queued(web["redis"].url)


@pytest.mark.parametrize("kind", ["forged", "stale", "unsigned"])
def test_forged_stale_and_unsigned_requests_get_401_and_no_job(web: dict[str, Any], kind: str) -> None:
    body = slash_body("")
    secret = {"forged": "not-the-secret", "stale": SECRET, "unsigned": None}[kind]
    when = int(time.time()) - 600 if kind == "stale" else None
    status, _ = post(web["url"] + "/slack/events", body, secret, timestamp=when)
    assert status == 401
    assert no_job_queued(web["redis"].url) and not [c for c in web["slack"].calls if c.method.startswith("chat.")]


def test_redis_down_gets_cannot_queue_and_200(aws: Moto) -> None:
    redis = start_redis()
    with SlackStandIn() as slack:
        running = Stack(aws.url, redis.url, slack.api_url, SECRET, {"TRAIL_AUDIT_REGIONS": REGIONS}).start("web")
        try:
            redis.stop()
            status, answer = post(running.url + "/slack/events", slash_body(""), SECRET)
            assert status == 200 and "cannot queue" in json.loads(answer)["text"]
        finally:
            running.stop()


def test_missing_token_fails_at_start_with_a_clear_message(aws: Moto) -> None:
    env = {**clean_env(), "PATH": f"{BIN}:{os.environ['PATH']}", "SLACK_SIGNING_SECRET": "x", "PORT": str(free_port())}
    proc = subprocess.run(["bash", "-c", f"exec {procfile()['web']}"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode != 0 and "SLACK_BOT_TOKEN must be set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_events_command_posts_the_change_report(stack: dict[str, Any]) -> None:
    slack: SlackStandIn = stack["slack"]
    assert post(stack["url"] + "/slack/events", slash_body("events 6"), SECRET)[0] == 200
    message = wait_until(lambda: slack.of("chat.postMessage"))[0]
    assert "last 6h" in message.params["text"]
    # moto has no LookupEvents: the message says that the call failed, instead of inventing "no changes" (and
    # blames no permission: it was not denied)
    shown = json.dumps(message.params["blocks"])
    assert "LookupEvents failed with" in shown and "IAM action" not in shown


def test_worker_killed_mid_audit_ends_in_a_failed_message(aws: Moto) -> None:
    """SIGKILL the worker (and its work horse) while a region job runs; a restarted worker, as a supervisor
    would start one, lets the watchdog fail the abandoned job, and the report says the audit failed."""
    demo_account(REGIONS.split(","))
    redis = start_redis()
    with SlackStandIn() as slack, LatencyProxy(aws.url, 0.7) as slow_aws:
        running = Stack(slow_aws, redis.url, slack.api_url, SECRET,
                        {"TRAIL_AUDIT_REGIONS": REGIONS, "TRAIL_AUDIT_WATCHDOG_STALE_SECONDS": "6"})  # fmt: skip
        try:
            running.start()
            assert post(running.url + "/slack/events", slash_body(""), SECRET)[0] == 200
            wait_until(lambda: slack.of("chat.postMessage"))  # planned: region jobs are queued
            started = StartedJobRegistry(queue=queue(RedisClient.from_url(redis.url)))
            wait_until(lambda: [j for j in Job.fetch_many(started.get_job_ids(), connection=started.connection)
                                if j is not None and j.func_name == paths.AUDIT_REGIONS])  # fmt: skip
            time.sleep(0.5)
            running.kill("worker")
            running.start("worker")

            def failed() -> Any:
                return [c for c in slack.of("chat.update") if "audit failed" in c.params.get("text", "")]

            message = wait_until(failed, timeout=60)[-1]
            assert "did not finish" in message.params["text"]
            assert not [c for c in slack.of("chat.update") if "app-audit" in json.dumps(c.params.get("blocks"))]
        finally:
            running.stop()
            redis.stop()


def test_a_failing_finish_job_says_so_in_slack(aws: Moto) -> None:
    """The finishing job raises (its state in Redis is gone): the failure callback updates the message."""
    from redis import Redis as RedisClient
    from rq import Callback, SimpleWorker

    from workers.queue.failures import reply_meta
    from workers.queue.queues import all_queues, queue
    from workers.state import keys

    redis = start_redis()
    try:
        with SlackStandIn() as slack:
            os.environ.update({"SLACK_API_URL": slack.api_url, "REDIS_URL": redis.url})
            conn = RedisClient.from_url(redis.url)
            q = queue(conn)
            posted = {"channel": "C0AUDIT", "posted_channel": "C0AUDIT", "ts": "1.0001", "version": "1", "sent": "1",
                      "body": "{}", "kind": "message"}  # fmt: skip
            conn.hset(keys.message("audit-gone"), mapping=posted)  # its progress message, posted before
            q.enqueue(paths.FINISH_AUDIT, "gone", [], on_failure=Callback(paths.FAILED),
                      meta={"reply": reply_meta("C0AUDIT", None, "audit-gone")})  # fmt: skip
            SimpleWorker(all_queues(conn), connection=conn).work(burst=True)
            update = slack.of("chat.update")[-1]
            assert update.params["ts"] == "1.0001" and "state in Redis is gone" in update.params["text"]
    finally:
        for key in ("SLACK_API_URL", "REDIS_URL"):
            os.environ.pop(key, None)
        redis.stop()


def test_socket_mode_when_an_app_token_is_set(aws: Moto) -> None:
    """With SLACK_APP_TOKEN the web process connects over Socket Mode: a command comes as an envelope, is acked
    on the socket with the ephemeral answer, and the report follows as in HTTP mode."""
    demo_account(["us-east-1"])
    redis = start_redis()
    with SlackStandIn() as slack, SocketModeStandIn() as ws:
        slack.socket_url = ws.url
        extra = {"TRAIL_AUDIT_REGIONS": "us-east-1", "SLACK_APP_TOKEN": "xapp-1-local"}
        running = Stack(aws.url, redis.url, slack.api_url, SECRET, extra)
        try:
            running.start()
            assert ws.connected.wait(20)
            assert slack.of("apps.connections.open")[0].params["_token"] == "xapp-1-local"
            payload = dict(parse_qsl(slash_body("audit us-east-1")))
            answer = ws.ack(ws.send("slash_commands", payload))
            assert "queued" in answer["text"] and answer["response_type"] == "ephemeral"
            report = wait_until(lambda: [c for c in slack.of("chat.update") if c.params["text"].startswith("FAIL")])
            assert report[-1].params["_token"] == "xoxb-local-token"
        finally:
            running.stop()
            redis.stop()


def test_metrics_from_the_real_web_process_sum_its_gunicorn_workers(stack: dict[str, Any]) -> None:
    from urllib.request import urlopen

    for _ in range(4):  # spread over gunicorn's processes: each keeps its own count, the scrape sums them
        assert post(stack["url"] + "/slack/events", slash_body("help"), SECRET)[0] == 200
    with urlopen(stack["url"] + "/metrics", timeout=10) as answer:
        body = answer.read().decode()
    counted = [line for line in body.splitlines() if line.startswith('trail_audit_commands_total{kind="help"')]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 4
    assert "trail_audit_redis_up 1.0" in body and 'trail_audit_queue_depth{queue="trail-audit-urgent"}' in body
