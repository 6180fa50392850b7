"""The one Slack Web API client factory: SLACK_API_URL, the bot token, and how rate limits are met.

What workers post goes through `workers.slack.outbox`, which retries by itself (so its client waits out
nothing); the web process's own few calls (views.open, users.info, usergroups.users.list) and the Home's
views.publish wait out one rate limit.
"""

from __future__ import annotations

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from workers.core.settings import Settings
from workers.state import installations


def web_client(settings: Settings, wait_out_rate_limits: bool = True) -> WebClient:
    """A Web API client on SLACK_API_URL; with `wait_out_rate_limits`, one 429 is waited out (Retry-After)."""
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if wait_out_rate_limits:
        return WebClient(token=token, base_url=base, timeout=5,
                         retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])  # fmt: skip
    return WebClient(token=token, base_url=base, timeout=10, retry_handlers=[])


def bot_token(settings: Settings, conn: Redis, channel: str | None = None, user: str | None = None) -> str | None:
    """The token that reaches a channel or a user: SLACK_BOT_TOKEN, or with OAuth the installation they were
    seen through (else the home one, TRAIL_AUDIT_TEAM_ID, else the only one); None when no installation fits."""
    if not settings.installed_by_oauth:
        return settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return installations.bot_token(conn, settings.team_id, channel=channel, user=user)
