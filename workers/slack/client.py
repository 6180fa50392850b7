"""The Web API client of the web process (Bolt's own calls: views.open, users.info, usergroups.users.list).

Everything workers (and the bot) *post* goes through `workers.slack.outbox`, which retries by itself.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from workers.core.settings import Settings


def web_client(settings: Settings) -> WebClient:
    """A Web API client on SLACK_API_URL that waits out a rate limit (the web process's calls are few)."""
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token, base_url=base, timeout=5, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
