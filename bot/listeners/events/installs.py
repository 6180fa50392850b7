"""`app_uninstalled` and `tokens_revoked`: the installation (and its bot token) is forgotten at once."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, BoltContext

from workers.core.settings import Settings
from workers.state import installations
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")


def installation_ended(ack: Ack, event: dict[str, Any], context: BoltContext) -> None:
    """Acknowledge, then forget the workspace's (or the organization's) installation when its bot token ended."""
    ack()
    if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
        return  # only users' tokens: trail-audit keeps none
    settings: Settings = context["settings"]
    org_wide = bool(context.is_enterprise_install)
    try:
        dropped = installations.forget(connection(settings), context.enterprise_id, context.team_id, org_wide)
    except RedisError as exc:  # Slack sends it again when it is not acknowledged; it was, so say it loudly
        log.error("installation not forgotten", extra={"error": type(exc).__name__, "team": context.team_id})
        return
    log.info("uninstalled", extra={"team": context.team_id, "enterprise": context.enterprise_id,
                                   "org_wide": org_wide, "dropped": dropped})  # fmt: skip
