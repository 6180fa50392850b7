"""The `events` process: long-polls the SQS queue EventBridge fills with CloudTrail calls, and records them.

At least once, and idempotent: a message is deleted only after what it announced is committed (an alert, an
enrichment, a recovery, or only its id as seen), and an event id is recorded once, so a redelivery changes
nothing. A message that is not a watched CloudTrail call is logged and not deleted: after the queue's
`maxReceiveCount` receives, SQS moves it to the dead-letter queue. Redis or SQS being away is waited out.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from botocore.config import Config

from workers.aws.accounts import own_client
from workers.aws.errors import AWS_ERRORS, from_exception
from workers.aws.event_history import ChangeEvent
from workers.core.settings import Settings
from workers.monitor import guardduty, pushed
from workers.monitor.pushed_alerts import record
from workers.queue.run import keep_running
from workers.state import metrics
from workers.state.connection import connection, ping

log = logging.getLogger("trail_audit.events")
BATCH = 10  # SQS's most messages a receive


class _Stop:
    requested = False


def queue_client(settings: Settings, url: str) -> Any:
    """An SQS client for the queue's region (from its URL; the home region for a local endpoint)."""
    parts = url.split("/")[2].split(".") if "://" in url else []
    region = parts[1] if len(parts) > 2 and parts[0] == "sqs" else settings.home_region
    config = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=settings.events_wait_seconds + 10)
    return own_client("sqs", region, config)


def handle(conn: Any, settings: Settings, messages: list[dict[str, Any]]) -> list[str]:
    """Record a batch of queue messages; returns the receipt handles that may be deleted."""
    events: list[tuple[ChangeEvent, str]] = []
    done: list[str] = []
    for message in messages:
        body = str(message.get("Body") or "")
        finding = guardduty.parse(body)
        if isinstance(finding, guardduty.GuardDutyFinding):
            outcome = guardduty.record(conn, settings, finding)
            log.info("GuardDuty finding recorded", extra={"finding": finding.id, "outcome": outcome})
            done.append(message["ReceiptHandle"])
            continue
        if isinstance(finding, str):
            log.warning("message left for the dead-letter queue",
                        extra={"message_id": message.get("MessageId"), "reason": finding})  # fmt: skip
            continue
        found = pushed.parse(body)
        if isinstance(found, pushed.Unreadable):
            log.warning("message left for the dead-letter queue",
                        extra={"message_id": message.get("MessageId"), "reason": found.reason})  # fmt: skip
            continue
        events.append((found, message["ReceiptHandle"]))
    if events:
        raised = record(conn, settings, [e for e, _ in events])
        log.info("pushed events recorded", extra={"events": len(events), "alerts": raised})
        done += [handle for _, handle in events]
    return done


def poll_once(sqs: Any, conn: Any, settings: Settings, url: str) -> int:
    """One long poll, its messages recorded and deleted; returns how many messages came."""
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=settings.events_wait_seconds,
                                 AttributeNames=["ApproximateReceiveCount"])  # fmt: skip
    messages = answer.get("Messages") or []
    if not messages:
        return 0
    handles = handle(conn, settings, messages)
    metrics.flush(conn)
    if handles:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        failed = sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        for f in failed:  # it comes again, and is recognised as seen
            log.warning("message not deleted", extra={"code": f.get("Code")})
    return len(messages)


def run(settings: Settings) -> None:
    """Consume until asked to stop; with no queue configured, wait idle (the process is then a no-op)."""

    def ask_stop(signum: int, frame: Any) -> None:
        _Stop.requested = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    url = settings.events_queue_url
    if not url:
        log.info("no TRAIL_AUDIT_EVENTS_QUEUE_URL: the pushed event path is off; idle")
        while not _Stop.requested:
            time.sleep(0.5)
        return
    sqs = queue_client(settings, url)

    def once() -> None:
        conn = connection(settings)
        ping(conn)
        backoff = 0.5
        while not _Stop.requested:
            try:
                poll_once(sqs, conn, settings, url)
                backoff = 0.5
            except AWS_ERRORS as exc:
                error = from_exception("sqs", "ReceiveMessage", exc)
                log.warning("queue unreachable", extra={"error": error.code, "detail": error.message})
                time.sleep(backoff)
                backoff = min(backoff * 2, 20.0)

    keep_running("events", once, _Stop)
