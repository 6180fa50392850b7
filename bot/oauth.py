"""Installs through OAuth: `/slack/install` and `/slack/oauth_redirect`, installations kept in Redis, and each
request authorised with the bot token of its workspace's installation, or of its organization's.

Used when SLACK_CLIENT_ID is set; otherwise the app runs on one SLACK_BOT_TOKEN as before. Bolt runs the OAuth
flow (the install page, the state cookie, `oauth.v2.access`); what it learns is kept by
`workers.state.installations`. Authorising a request reads Redis only: no `auth.test` per request.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store import Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from workers.core.settings import Settings
from workers.state import installations
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")

SCOPES = ("commands", "chat:write", "files:write", "usergroups:read", "users:read")  # manifest.json's, exactly
NOT_INSTALLED = (":no_entry: trail-audit is not installed in this workspace (nor for its organization); "
                 "ask a Slack admin to install it. Nothing was done.")  # fmt: skip
INSTALLATION = "installation"  # the context key of the request's installation (its record, with its owner)


class _OnRedis:
    """A store of Bolt's OAuth flow on trail-audit's Redis (the connection of the settings read at start)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def logger(self) -> logging.Logger:
        """The logger Bolt's flow writes through."""
        return log


class RedisInstallations(_OnRedis, InstallationStore):
    """What Bolt's OAuth flow installs, kept in Redis (bot tokens only: trail-audit asks for no user scope)."""

    def save(self, installation: Installation) -> None:
        """Keep one installation (a workspace's, or an organization's when installed org-wide)."""
        record = {
            "enterprise_id": installation.enterprise_id, "enterprise_name": installation.enterprise_name,
            "team_id": None if installation.is_enterprise_install else installation.team_id,
            "team_name": installation.team_name, "is_enterprise_install": bool(installation.is_enterprise_install),
            "bot_token": installation.bot_token, "bot_id": installation.bot_id,
            "bot_user_id": installation.bot_user_id, "bot_scopes": list(installation.bot_scopes or []),
            "app_id": installation.app_id, "installer": installation.user_id,
            "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        key = installations.save(connection(self.settings), record)
        log.info("installed", extra={"installation": key, "installer": installation.user_id})

    def find_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:  # fmt: skip
        """The installation that answers for a workspace (or its organization), as Bolt's model."""
        team = None if is_enterprise_install else team_id
        found = installations.find(connection(self.settings), enterprise_id, team)
        if found is None:
            return None
        return Installation(user_id=found.get("installer") or "", enterprise_id=found.get("enterprise_id"),
                            team_id=found.get("team_id"), bot_token=found["bot_token"], bot_id=found.get("bot_id"),
                            bot_user_id=found.get("bot_user_id"), bot_scopes=found.get("bot_scopes") or [],
                            is_enterprise_install=bool(found.get("is_enterprise_install")))  # fmt: skip

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Forget a workspace's installation, or the organization's when no workspace is named."""
        installations.forget(connection(self.settings), enterprise_id, team_id, org_wide=team_id is None)

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The same as `delete_installation`: an installation is its bot."""
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class RedisStates(_OnRedis, OAuthStateStore):
    """OAuth states in Redis: issued at /slack/install, consumed once at the redirect, ten minutes at most."""

    def issue(self, *args: Any, **kwargs: Any) -> str:
        """A new state."""
        return installations.issue_state(connection(self.settings))

    def consume(self, state: str) -> bool:
        """Whether the state was issued and is used for the first time."""
        return installations.consume_state(connection(self.settings), state)


class InstalledAuthorize(Authorize):
    """Authorise a request with its workspace's installation, else its organization's; None when neither."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def __call__(
        self, *, context: BoltContext, enterprise_id: str | None, team_id: str | None, user_id: str | None,
        **_: Any,
    ) -> AuthorizeResult | None:  # fmt: skip
        found = installations.find(connection(self.settings), enterprise_id, team_id)
        if found is None:
            log.warning("request from a workspace without an installation",
                        extra={"team": team_id, "enterprise": enterprise_id})  # fmt: skip
            return None
        context[INSTALLATION] = found
        return AuthorizeResult(enterprise_id=found.get("enterprise_id"), team_id=found.get("team_id"),
                               bot_user_id=found.get("bot_user_id"), bot_id=found.get("bot_id"),
                               bot_token=found["bot_token"], bot_scopes=found.get("bot_scopes") or [],
                               user_id=user_id)  # fmt: skip


def oauth_settings(settings: Settings) -> OAuthSettings:
    """Bolt's OAuth flow on the Redis stores, asking for exactly the manifest's bot scopes."""
    assert settings.slack_client_id and settings.slack_client_secret
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(SCOPES),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        installation_store=RedisInstallations(settings),
        state_store=RedisStates(settings),
    )
