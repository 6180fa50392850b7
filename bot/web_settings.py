"""The bot's settings: the shared ones, with the Slack secrets required at start."""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from workers.core.settings import Settings


class MissingSetting(SystemExit):
    """Raised at start when a required setting is absent: a clear message, no traceback."""


def bot_settings() -> Settings:
    """Settings for the web process; exits with a clear message when a Slack secret is missing."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MissingSetting(f"trail-audit: setting {first['loc'][0]}: {first['msg']}") from None
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        )
        if not isinstance(value, SecretStr) or not value.get_secret_value()
    ]
    if missing:
        raise MissingSetting(f"trail-audit: {' and '.join(missing)} must be set (see README: Run it in your workspace)")
    return settings
