"""`app_home_opened`: the Home tab is drawn by a worker (`workers.app_home.publish`), never here."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack

from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import URGENT, queue
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")


def app_home_opened(ack: Ack, event: dict[str, Any], context: dict[str, Any]) -> None:
    """Acknowledge, then queue the drawing of the user's Home (only the Home tab: not the Messages tab)."""
    ack()
    if event.get("tab") != "home" or not event.get("user"):
        return
    settings: Settings = context["settings"]
    try:
        queue(connection(settings), URGENT).enqueue(paths.HOME_PUBLISH, str(event["user"]), job_timeout=60)
    except RedisError as exc:  # the tab keeps its last drawing; the next opening tries again
        log.warning("home not queued", extra={"error": type(exc).__name__})
