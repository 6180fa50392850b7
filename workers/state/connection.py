"""The one Redis connection factory every process uses (web, worker, clock, events consumer, CLI)."""

from __future__ import annotations

import threading

from redis import Redis

from workers.core.settings import Settings


def connection(settings: Settings) -> Redis:
    """A Redis client that fails fast when Redis is down, so a slash command can still be answered in time."""
    return Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=5.0, health_check_interval=10)


def ping(conn: Redis) -> None:
    """Fail now (a ConnectionError) when Redis cannot be reached."""
    conn.ping()


_KEPT: dict[str, Redis] = {}
_KEPT_LOCK = threading.Lock()


def kept(settings: Settings) -> Redis:
    """The process's one client for `REDIS_URL`, for jobs that run in the worker's own process: its pool keeps
    connections open between jobs (a pool made per job would connect again each time)."""
    with _KEPT_LOCK:
        found = _KEPT.get(settings.redis_url)
        if found is None:
            found = _KEPT[settings.redis_url] = connection(settings)
        return found
