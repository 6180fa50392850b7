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
    if settings.installed_by_oauth and _given(settings.slack_app_token):
        raise MissingSetting("trail-audit: Socket Mode (SLACK_APP_TOKEN) runs on one SLACK_BOT_TOKEN; installs "
                             "through OAuth (SLACK_CLIENT_ID) need the web process at a public URL")  # fmt: skip
    if settings.installed_by_oauth and _given(settings.slack_bot_token):
        raise MissingSetting("trail-audit: set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
                             "SLACK_CLIENT_SECRET (installed through OAuth), not both")  # fmt: skip
    token = ("SLACK_CLIENT_SECRET", settings.slack_client_secret) if settings.installed_by_oauth else (
        "SLACK_BOT_TOKEN", settings.slack_bot_token)  # fmt: skip
    missing = [name for name, value in (token, ("SLACK_SIGNING_SECRET", settings.slack_signing_secret))
               if not _given(value)]  # fmt: skip
    if missing:
        raise MissingSetting(f"trail-audit: {' and '.join(missing)} must be set (see README: Run it in your workspace)")
    return settings


def _given(value: object) -> bool:
    return isinstance(value, SecretStr) and bool(value.get_secret_value())
