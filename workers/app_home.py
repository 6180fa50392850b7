"""Publishing the App Home tab: to a user when they open it (`app_home_opened`), and again to everyone who has
opened it when what it shows changed (every alert and request transition and every finished audit set
`keys.HOME_DIRTY` in their commit; the clock's `refresh` redraws, at most once a sweep). `views.publish` is
idempotent: a failed one leaves the previous Home, is counted, and the next change redraws it."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from redis import Redis
from slack_sdk.errors import SlackApiError

from workers.core.settings import Settings
from workers.monitor.status import status_lines
from workers.remediation import approvals
from workers.resources.findings import annotate
from workers.slack.client import bot_token, web_client
from workers.slack.messages.home import home
from workers.state import alert_records, audits, home_tab, metrics, monitor_records
from workers.state.connection import connection
from workers.state.waivers import in_force

log = logging.getLogger("trail_audit.home")
KEEP_USERS = 500  # the newest openers kept current (others get a fresh Home when they open it)


def gather(conn: Redis) -> dict[str, Any]:
    """What the Home shows, read from Redis."""
    last = audits.last(conn)
    report = None
    waived = in_force(conn)
    if last:
        report = audits.report(conn, last["id"])
        if report:
            annotate(report["findings"], waived)
    notices = sorted(monitor_records.blind_spots(conn))
    return {
        "now": time.time(),
        "last_audit": last,
        "trend": audits.trend(conn),
        "report": report,
        "alerts": alert_records.open_alerts(conn),
        "pending": [asdict(r) for r in approvals.pending(conn)],
        "active": [asdict(r) for r in approvals.active(conn)],
        "waivers": sorted(waived.values(), key=lambda w: w["until"]),
        "monitor": status_lines(conn),
        "event_path": [f":warning: not watched: {n}" for n in notices],
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def publish(user: str) -> bool:
    """RQ job: draw one user's Home now (they opened it), and keep them among those redrawn on changes."""
    settings = Settings()
    conn = connection(settings)
    home_tab.opened(conn, user, KEEP_USERS)
    return _publish(settings, [user], home(gather(conn))) == 1


def refresh(settings: Settings | None = None, conn: Redis | None = None) -> int:
    """Cron job: when the Home is out of date, redraw it for everyone who opened it; returns how many."""
    settings = settings or Settings()  # the clock passes its own (read once)
    conn = conn or connection(settings)
    if not home_tab.take_dirty(conn):
        return 0
    users = home_tab.openers(conn)
    return _publish(settings, users, home(gather(conn))) if users else 0


def _publish(settings: Settings, users: list[str], view: dict[str, Any]) -> int:
    client = web_client(settings)
    conn = connection(settings)
    done = 0
    for user in users:
        client.token = bot_token(settings, conn, user=user)
        if client.token is None:
            log.warning("home not published: no installation reaches the user", extra={"user": user})
            continue
        try:
            client.views_publish(user_id=user, view=view)
            done += 1
        except SlackApiError as exc:
            error = str((exc.response.data or {}).get("error", "")) if isinstance(exc.response.data, dict) else ""
            metrics.note("slack_errors", method="views_publish", error=error or "?")
            log.warning("home not published", extra={"slack_error": error})
        except OSError as exc:
            metrics.note("slack_errors", method="views_publish", error=type(exc).__name__)
            log.warning("home not published", extra={"error": type(exc).__name__})
    return done
