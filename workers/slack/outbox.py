"""The Slack outbox: every message a worker (or the bot) sends goes through here, durably.

A message is a record in Redis (`workers.state.outgoing`): where it goes, its newest body and version, and
once delivered its `ts`. `outgoing.stage` writes it inside the caller's transaction, so a message is committed
together with the state change it describes, never before it; `kick` then queues its delivery on the
urgent queue, and `sweep` (every few seconds) queues whatever is due and was not delivered, so a killed
worker or a lost job only delays a message. Staging the same id again replaces the body: a delivered
message is then updated in place (`chat.update`), an undelivered one goes out with the newest body only.

`deliver` never changes any state but the message's own. Slack 5xx, timeouts and 429 (after Retry-After)
are retried with backoff for `TRAIL_AUDIT_OUTBOX_RETRY_SECONDS` (two hours by default); a message that still
cannot be delivered, or that Slack refuses for good (`invalid_blocks`...), is logged and listed by `status`.
Posts are paced under Slack's rate of about one message a second per channel, shared by every worker.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable
from typing import Any

from redis import Redis
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import URGENT, queue
from workers.slack.client import bot_token, web_client
from workers.slack.messages.rollup import report_file
from workers.state import audits, function_steps, metrics, outgoing
from workers.state.connection import connection
from workers.state.outgoing import Delivered

log = logging.getLogger("trail_audit.outbox")
LEASE = 60.0  # seconds a queued delivery may take before the sweep queues it again
LOCK_MS = 30_000
FALLBACK_ERRORS = {"not_in_channel", "channel_not_found", "is_archived"}
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
PARENT_WAIT = 2.0  # seconds before a thread reply looks again for its parent's ts
_PARENT = "its thread's first message is not posted yet"  # waits that are not failures (no backoff, no log)
PACED = "paced under the channel's rate"



class Transient(Exception):
    """Slack could not take the message now; try again after `delay` seconds."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class Permanent(Exception):
    """Slack refused the message for good (the reason is kept and shown in `status`)."""




def send(conn: Redis, message_id: str, channel: str | None, body: dict[str, Any], **kwargs: Any) -> str:
    """Stage one message on its own and queue its delivery (for messages that describe no state change)."""
    outgoing.commit(conn, message_id, channel, body, **kwargs)
    kick(conn, [message_id])
    return message_id


def kick(conn: Redis, message_ids: Iterable[str]) -> None:
    """Queue the delivery of staged messages now (best effort: the sweep queues them otherwise)."""
    ids = list(message_ids)
    if not ids:
        return
    try:
        q = queue(conn, URGENT)
        outgoing.lease(conn, ids, LEASE)
        for mid in ids:
            q.enqueue(paths.DELIVER, mid, job_timeout=30, result_ttl=60, failure_ttl=3600)
    except Exception as exc:  # noqa: BLE001 - the sweep delivers it; a kick must never fail its caller
        log.warning("delivery not queued; the sweep will", extra={"error": type(exc).__name__})


def sweep(settings: Settings | None = None, conn: Redis | None = None) -> int:
    """Cron job: queue the delivery of every message that is due (new, retried, or whose job was lost)."""
    conn = conn or connection(settings or Settings())  # the clock passes its own (read once)
    due = outgoing.due(conn, time.time(), limit=500)
    kick(conn, due)
    return len(due)


def report_id(audit_id: str) -> str:
    """The outbox id of an audit's message (progress first, then the report in its place)."""
    return f"audit-{audit_id}"


def deliver(message_id: str) -> str:
    """RQ job: post or update one message with its newest body; reschedule it when Slack cannot take it."""
    settings = Settings()
    conn = connection(settings)
    if not outgoing.lock(conn, message_id, LOCK_MS):
        return "busy"  # another worker delivers it and looks at the version again when done
    try:
        return _deliver(settings, conn, message_id)
    finally:
        outgoing.unlock(conn, message_id)


def _deliver(settings: Settings, conn: Redis, message_id: str) -> str:
    rec = outgoing.record(conn, message_id)
    if not rec:
        outgoing.forget(conn, message_id)
        return "gone"
    version = int(rec.get("version", "0"))
    if int(rec.get("sent", "0")) >= version:
        _settle(conn, message_id, version)
        return "sent"
    try:
        where_to = _post(settings, conn, message_id, rec)
    except Transient as exc:
        return _retry(settings, conn, message_id, rec, exc)
    except Permanent as exc:
        return _give_up(conn, message_id, str(exc))
    outgoing.mark_sent(conn, message_id, version, where_to)
    _settle(conn, message_id, version)
    return "delivered"


def _settle(conn: Redis, message_id: str, version: int) -> None:
    """Take the message off the due list unless a newer body was staged meanwhile (then it goes out next)."""
    if outgoing.settle(conn, message_id, version):
        kick(conn, [message_id])


def _post(settings: Settings, conn: Redis, message_id: str, rec: dict[str, str]) -> Delivered:
    body = json.loads(rec["body"])
    kind, channel = rec.get("kind", "message"), rec.get("channel") or ""
    if kind == "response" or rec.get("via") == "response_url":
        _respond(rec["response_url"], body, replace=bool(rec.get("sent")) or rec.get("via") == "response_url")
        return Delivered(None, None)
    if kind == "function":  # a Workflow Builder step completed, with the execution's own token
        _complete_step(settings, conn, body)
        return Delivered(None, None)
    client = web_client(settings, wait_out_rate_limits=False)  # the outbox retries later instead
    client.token = _token(settings, conn, rec)
    try:
        if kind == "ephemeral":
            _call(client.chat_postEphemeral, channel=channel, user=rec["user"], **body)
            return Delivered(None, None)
        if rec.get("ts"):
            try:
                _call(client.chat_update, channel=rec.get("posted_channel") or channel, ts=rec["ts"], **body)
                return Delivered(rec.get("posted_channel") or channel, rec["ts"])
            except Permanent as exc:
                if "message_not_found" not in str(exc):
                    raise
                log.warning("message to update is gone; posting it anew", extra={"msg_id": message_id})
        thread_ts = None
        if rec.get("thread"):
            parent_url = outgoing.answered_by_url(conn, rec["thread"])
            if parent_url:  # the thread's first message went there too
                _respond(parent_url, body, replace=False)
                return Delivered(None, None)
            parent = outgoing.where(conn, rec["thread"])
            if parent is None or not parent.ts:
                raise Transient(_PARENT, PARENT_WAIT)
            thread_ts, channel = parent.ts, parent.channel or channel
        _pace(settings, conn, channel)
        if kind == "file":  # a report's findings as a file (JSON or CSV), read from the report when sent
            doc = audits.report(conn, str(body["report"]))
            if doc is None:
                raise Permanent("the report has expired")
            name, content = report_file(doc, str(body["format"]))
            _call(client.files_upload_v2, channel=channel, thread_ts=thread_ts, filename=name, title=name,
                  content=content)  # fmt: skip
            return Delivered(None, None)
        answer = _call(client.chat_postMessage, channel=channel, thread_ts=thread_ts, **body)
        return Delivered(str(answer["channel"]), str(answer["ts"]))
    except Permanent as exc:
        error = str(exc)
        if error in FALLBACK_ERRORS and rec.get("response_url"):
            outgoing.use_response_url(conn, message_id)
            _respond(rec["response_url"], body, replace=False)
            return Delivered(None, None)
        raise


def _token(settings: Settings, conn: Redis, rec: dict[str, str]) -> str | None:
    """The bot token that reaches the message's channel: SLACK_BOT_TOKEN, or with OAuth its installation's."""
    if not settings.installed_by_oauth:
        return bot_token(settings, conn)  # unset, Slack itself answers not_authed
    channel = rec.get("posted_channel") or rec.get("channel") or None
    if rec.get("thread"):
        parent = outgoing.where(conn, rec["thread"])
        channel = parent.channel if parent and parent.channel else channel
    token = bot_token(settings, conn, channel=channel, user=rec.get("user"))
    if token is None:
        raise Permanent(f"no installation of trail-audit reaches {channel or 'this channel'} "
                        "(install it there, or name its workspace in TRAIL_AUDIT_TEAM_ID)")  # fmt: skip
    return token


def _complete_step(settings: Settings, conn: Redis, body: dict[str, Any]) -> None:
    """`functions.completeSuccess` (outputs) or `functions.completeError` (error) for one step execution."""
    execution = str(body["execution"])
    token = function_steps.token(conn, execution)
    if token is None:
        raise Permanent("the step's token has expired")
    client = web_client(settings, wait_out_rate_limits=False)
    client.token = token
    if "error" in body:
        _call(client.functions_completeError, function_execution_id=execution, error=str(body["error"]))
    else:
        _call(client.functions_completeSuccess, function_execution_id=execution, outputs=body["outputs"])


def _pace(settings: Settings, conn: Redis, channel: str) -> None:
    """Wait for the channel's next slot (a short wait here; a long one is a reschedule)."""
    gap = 1.0 / settings.slack_channel_rate
    while True:
        wait = outgoing.take_slot(conn, channel, gap)
        if wait <= 0:
            return
        if wait > 2.0:
            raise Transient(PACED, wait + random.uniform(0, gap))
        time.sleep(wait + random.uniform(0, gap / 4))


def _call(method: Any, **params: Any) -> Any:
    """One Web API call; Slack's answer sorted into success, Transient (try again) and Permanent."""
    try:
        return method(**params)
    except SlackApiError as exc:
        status = getattr(exc.response, "status_code", 200)
        error = str((exc.response.data or {}).get("error", "")) if isinstance(exc.response.data, dict) else ""
        metrics.note("slack_errors", method=getattr(method, "__name__", "?"), error=error or str(status))
        if status == 429 or error == "ratelimited":
            retry_after = float((exc.response.headers or {}).get("Retry-After", "1") or 1)
            raise Transient("rate limited (429)", retry_after) from None
        if status >= 500 or error in TRANSIENT_ERRORS:
            raise Transient(f"Slack answered {status} {error}".strip()) from None
        raise Permanent(error or f"HTTP {status}") from None
    except (OSError, ValueError) as exc:  # timeouts, refused connections, a body that is not JSON (a 5xx page)
        metrics.note("slack_errors", method=getattr(method, "__name__", "?"), error=type(exc).__name__)
        raise Transient(f"{type(exc).__name__}") from None


def _respond(url: str, body: dict[str, Any], replace: bool) -> None:
    try:
        answer = WebhookClient(url, timeout=10).send(
            response_type="in_channel", replace_original=replace, **{k: v for k, v in body.items() if k != "channel"}
        )
    except (OSError, ValueError) as exc:
        raise Transient(type(exc).__name__) from None
    if answer.status_code == 429 or answer.status_code >= 500:
        raise Transient(f"response_url answered {answer.status_code}")
    if answer.status_code >= 400:
        raise Permanent(f"response_url answered {answer.status_code}: {answer.body[:100]}")


def _retry(settings: Settings, conn: Redis, message_id: str, rec: dict[str, str], exc: Transient) -> str:
    """Schedule the next try: after Slack's Retry-After (or the channel's next slot) when given, else after an
    exponential backoff capped at `TRAIL_AUDIT_OUTBOX_MAX_BACKOFF`; give up after the retry period."""
    paced = str(exc) in (PACED, _PARENT)
    attempts = int(rec.get("attempts", "0")) + (0 if paced else 1)
    if time.time() - float(rec.get("first", time.time())) > settings.outbox_retry_seconds:
        return _give_up(conn, message_id, f"still failing after {settings.outbox_retry_seconds:g} s: {exc}")
    delay = exc.delay if exc.delay is not None else min(2.0**attempts, settings.outbox_max_backoff)
    outgoing.retry_later(conn, message_id, attempts, str(exc), delay)
    if not paced:
        log.warning(
            "message not delivered; retrying",
            extra={"msg_id": message_id, "reason": str(exc), "attempt": attempts, "in_seconds": round(delay, 1)},
        )
    return f"retry in {delay:.1f}s"


def _give_up(conn: Redis, message_id: str, reason: str) -> str:
    outgoing.give_up(conn, message_id, reason)
    log.error("message given up", extra={"msg_id": message_id, "reason": reason})
    return "given up"


def status_lines(conn: Redis) -> list[str]:
    """`/trail-audit status`'s outbox lines: messages waiting, and those given up (with why)."""
    waiting, dead = outgoing.backlog(conn), outgoing.undelivered(conn)
    lines = [f"Slack outbox: {waiting} waiting · {outgoing.dead_count(conn)} undeliverable"]
    lines += [
        f"• :x: {code(d['id'])} to {code(d['channel'] or 'a response_url')}: {escape(d['error'][:200])}"
        for d in dead[:5]
    ]
    return lines


def flush(conn: Redis, settings: Settings, rounds: int = 10) -> int:
    """Deliver, in this process, every message queued or due now (thread replies after their parents).

    For the CLI-side and tests; workers deliver through `deliver` jobs. Returns how many were delivered."""
    delivered = 0
    for _ in range(rounds):
        due = outgoing.due(conn, time.time() + LEASE + 1)
        done = [m for m in due if _deliver(settings, conn, m) == "delivered"]
        delivered += len(done)
        if not done:
            break
    return delivered
