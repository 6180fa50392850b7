"""Posting to Slack from workers: every call through SLACK_API_URL, 429s retried after Retry-After,
channel errors handled by falling back to the command's response_url, nothing secret in the logs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from workers.core.settings import Settings

log = logging.getLogger("trail_audit.slack")
FALLBACK_ERRORS = {"not_in_channel", "channel_not_found", "is_archived"}


def web_client(settings: Settings) -> WebClient:
    """A Web API client on SLACK_API_URL that waits out rate limits."""
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=base, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)])


@dataclass(frozen=True)
class Posted:
    """Where a message went: a channel message (channel, ts) or the command's response_url."""

    channel: str | None
    ts: str | None
    response_url: str | None = None


def post(
    client: WebClient,
    channel: str,
    message: dict[str, Any],
    response_url: str | None = None,
    thread_ts: str | None = None,
) -> Posted:
    """Post in the channel; when the bot is not in it, answer through the command's response_url."""
    try:
        answer = client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message)
        return Posted(answer["channel"], answer["ts"])
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown")
        log.warning("chat.postMessage failed", extra={"slack_error": error, "channel": channel})
        if error in FALLBACK_ERRORS and response_url:
            WebhookClient(response_url).send(response_type="in_channel", **message)
            return Posted(None, None, response_url)
        raise


def update(client: WebClient, posted: Posted, message: dict[str, Any]) -> None:
    """Replace a posted message (through response_url when that is where it went)."""
    if posted.channel and posted.ts:
        try:
            client.chat_update(channel=posted.channel, ts=posted.ts, **message)
        except SlackApiError as exc:
            log.warning("chat.update failed", extra={"slack_error": exc.response.get("error", "unknown")})
            raise
    elif posted.response_url:
        WebhookClient(posted.response_url).send(replace_original=True, response_type="in_channel", **message)
