"""The Redis connection and the RQ queue every process shares."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from workers.settings import Settings

QUEUE = "trail-audit"
REGION_TIMEOUT = 300  # seconds a region job may run
FINISH_TIMEOUT = 120


def connection(settings: Settings) -> Redis:
    """A Redis client that fails fast when Redis is down, so a slash command can still be answered in time."""
    return Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=5.0)


def queue(conn: Redis) -> Queue:
    """The one queue of audit, remediation and monitor jobs."""
    return Queue(QUEUE, connection=conn)
