"""The door of `POST /slack/events`: a request is verified before anything parses it.

Slack signs every request: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret. Here the raw
bytes are checked first (size, header shapes, age, signature), and only then decoded and parsed, so that an
unsigned or malformed request gets 401 or 400 and never reaches Bolt, the queue or a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

MAX_BODY = 256 * 1024  # Slack's largest payloads (a view submission) are far below this
MAX_AGE = 300  # seconds: Slack's own advice against replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


@dataclass(frozen=True)
class Refusal:
    """Why a request is turned away: an HTTP status and a short reason (logged, and sent as plain text)."""

    status: int
    reason: str


def length(raw: str | None) -> int | Refusal:
    """The declared body length, or why it cannot be read."""
    if not raw or not re.fullmatch(r"[0-9]{1,9}", raw):
        return Refusal(411 if not raw else 400, "a Content-Length is required")
    size = int(raw)
    return size if size <= MAX_BODY else Refusal(413, "request too large")


def check(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float, content_type: str | None = None
) -> Refusal | None:
    """None when the request is Slack's and readable; otherwise the refusal to answer with."""
    if not timestamp or not signature or not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return Refusal(401, "unsigned")
    if abs(now - int(timestamp)) > MAX_AGE:
        return Refusal(401, "stale")
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(f"v0={expected}", signature):
        return Refusal(401, "bad signature")
    return readable(body, content_type)


def readable(body: bytes, content_type: str | None = None) -> Refusal | None:
    """A signed body Bolt can parse (as Bolt decides): UTF-8, and a JSON object where JSON is expected (a JSON
    content type or a body starting with `{`, or a form's `payload`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body is not UTF-8")
    try:
        if content_type == "application/json" or text.startswith("{"):
            return None if isinstance(json.loads(text), dict) else Refusal(400, "body is not a JSON object")
        payload = parse_qs(text, keep_blank_values=True, max_num_fields=200).get("payload")
        if payload is not None and not isinstance(json.loads(payload[0]), dict):
            return Refusal(400, "payload is not a JSON object")
    except ValueError:  # a broken form or JSON (JSONDecodeError is a ValueError)
        return Refusal(400, "body cannot be parsed")
    return None
