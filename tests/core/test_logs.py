"""Structured logs: JSON lines with the extra fields; secrets never appear."""

from __future__ import annotations

import json
import logging

from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException

from workers.core.logs import JsonFormatter, mask
from workers.queue.failures import reason


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("trail_audit.test", logging.WARNING, __file__, 1, msg, None, None)
    rec.__dict__.update(extra)
    return rec


def test_a_log_line_is_json_with_its_extra_fields() -> None:
    doc = json.loads(JsonFormatter().format(record("chat.update failed", slack_error="not_in_channel")))
    assert doc["msg"] == "chat.update failed" and doc["slack_error"] == "not_in_channel"
    assert doc["level"] == "WARNING" and doc["logger"] == "trail_audit.test"


def test_tokens_and_secrets_are_masked_wherever_they_appear() -> None:
    line = JsonFormatter().format(
        record("calling https://x/?token=abc123&b=1 with xoxb-1234-5678-abcdef", url="xapp-1-A0-99-zz")
    )
    for secret in ("abc123", "xoxb-1234-5678-abcdef", "xapp-1-A0-99-zz"):
        assert secret not in line
    assert "xoxb-***" in line and "token=***" in line
    assert mask("signature=v0=deadbeef") == "signature=***"


def test_failure_reasons_are_one_sentence_without_traceback() -> None:
    assert "killed or lost" in reason(AbandonedJobError, AbandonedJobError(), 300)
    assert reason(JobTimeoutException, JobTimeoutException(), 300) == "it timed out after 300 seconds"
    assert reason(RuntimeError, RuntimeError("its state in Redis is gone"), 10).endswith("state in Redis is gone")
