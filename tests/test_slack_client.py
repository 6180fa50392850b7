"""The workers' Slack client against the stand-in: 429s waited out, errors handled and logged without secrets."""

from __future__ import annotations

import logging
import time

import pytest
from slack_sdk.errors import SlackApiError

from demo.slack_standin import SlackStandIn
from workers.core.settings import Settings
from workers.slack import client as slack

TOKEN = "xoxb-1111-2222-secretsecret"


def client_on(stand_in: SlackStandIn) -> slack.WebClient:
    return slack.web_client(Settings(_env_file=None, SLACK_API_URL=stand_in.api_url, SLACK_BOT_TOKEN=TOKEN))  # type: ignore[call-arg]


def test_a_429_is_retried_after_retry_after() -> None:
    with SlackStandIn() as stand_in:
        stand_in.scripted["chat.postMessage"] = [{"status": 429, "retry_after": 1}]
        t0 = time.monotonic()
        posted = slack.post(client_on(stand_in), "C0AUDIT", {"text": "hi"})
        waited = time.monotonic() - t0
    calls = stand_in.of("chat.postMessage")
    assert len(calls) == 2 and posted.ts and waited >= 1.0


def test_invalid_blocks_is_raised_and_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    with SlackStandIn() as stand_in, caplog.at_level(logging.WARNING, logger="trail_audit.slack"):
        stand_in.scripted["chat.postMessage"] = [{"error": "invalid_blocks"}]
        with pytest.raises(SlackApiError):
            slack.post(client_on(stand_in), "C0AUDIT", {"text": "x", "blocks": [{"type": "nonsense"}]})
    assert any(getattr(r, "slack_error", None) == "invalid_blocks" for r in caplog.records)
    assert TOKEN not in caplog.text


def test_channel_not_found_falls_back_to_the_response_url() -> None:
    with SlackStandIn() as stand_in:
        stand_in.scripted["chat.postMessage"] = [{"error": "channel_not_found"}]
        posted = slack.post(client_on(stand_in), "C0GONE", {"text": "report"}, response_url=stand_in.response_url("x"))
    assert posted.response_url and stand_in.of("response_url")[0].params["text"] == "report"
