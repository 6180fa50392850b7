"""Slash-command requests signed the way Slack signs them (v0 HMAC-SHA256 of timestamp and body)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode


def sign(secret: str, timestamp: int, body: str) -> str:
    """The X-Slack-Signature of a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def slash_body(text: str, channel: str = "C0AUDIT", user: str = "U0ALICE", response_url: str = "") -> str:
    """The form body of `/trail-audit <text>`."""
    return urlencode({
        "token": "unused", "team_id": "T1", "team_domain": "acme", "channel_id": channel, "channel_name": "sec",
        "user_id": user, "user_name": "alice", "command": "/trail-audit", "text": text,
        "response_url": response_url, "trigger_id": "1.2.3", "api_app_id": "A1",
    })  # fmt: skip


def action_body(action_id: str, value: str, user: str, channel: str, message_ts: str, response_url: str) -> str:
    """The form body of a button click (`block_actions`), as Slack sends it."""
    payload = {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1", "token": "unused", "trigger_id": "1.2.3", "team": {"id": "T1", "domain": "acme"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "alerts"}, "message": {"ts": message_ts, "type": "message"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "decision", "value": value, "type": "button",
                     "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def view_body(callback_id: str, metadata: str, reason: str, user: str) -> str:
    """The form body of a dialog submission (`view_submission`) with a reason typed in."""
    payload = {
        "type": "view_submission", "user": {"id": user, "team_id": "T1"}, "api_app_id": "A1", "token": "unused",
        "team": {"id": "T1", "domain": "acme"}, "trigger_id": "1.2.3",
        "view": {"id": "V1", "type": "modal", "callback_id": callback_id, "private_metadata": metadata,
                 "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": reason}}}}},
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], team: str = "T1") -> str:
    """An Events API callback as Slack sends it (JSON), e.g. `{"type": "app_home_opened", ...}`."""
    callback = {"token": "unused", "team_id": team, "api_app_id": "A0TRAIL", "type": "event_callback",
                "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()), "event": event}  # fmt: skip
    return json.dumps(callback)


def function_event(callback_id: str, inputs: dict[str, Any], execution: str) -> dict[str, Any]:
    """A `function_executed` event as Slack sends it when a workflow reaches one of the app's custom steps (the
    step's own short-lived token in `bot_access_token`)."""
    return {"type": "function_executed", "function_execution_id": execution, "workflow_execution_id": f"Wx{execution}",
            "event_ts": f"{time.time():.6f}", "bot_access_token": f"xwfp-{execution}-token", "inputs": inputs,
            "function": {"id": f"Fn{callback_id}", "callback_id": callback_id, "title": callback_id, "type": "app",
                         "app_id": "A0TRAIL", "input_parameters": [], "output_parameters": []}}  # fmt: skip


def post(
    url: str, body: str, secret: str | None, timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> tuple[int, str]:  # fmt: skip
    """POST a body to the bot, signed with `secret` (unsigned when None); returns status and text."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers.update({"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sign(secret, ts, body)})
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
