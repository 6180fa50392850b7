"""The one Redis connection factory every process uses (web, worker, clock, events consumer, CLI)."""

from __future__ import annotations

from redis import Redis

from workers.core.settings import Settings


def connection(settings: Settings) -> Redis:
    """A Redis client that fails fast when Redis is down, so a slash command can still be answered in time."""
    return Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=5.0, health_check_interval=10)


def ping(conn: Redis) -> None:
    """Fail now (a ConnectionError) when Redis cannot be reached."""
    conn.ping()


def started_jobs(conn: Redis, registry_key: str) -> list[str]:
    """The members of an RQ started-job registry (what the watchdog looks at)."""
    return [m.decode() if isinstance(m, bytes) else str(m) for m in conn.zrange(registry_key, 0, -1)]


def expire_started(conn: Redis, registry_key: str, members: list[str]) -> None:
    """Expire started-job entries now (RQ's cleanup then fails their jobs and runs their callbacks)."""
    conn.zadd(registry_key, dict.fromkeys(members, 0), xx=True)
