"""RQ's started-job registries, as the watchdog reads and expires them (RQ's own cleanup then fails the jobs and
runs their failure callbacks)."""

from __future__ import annotations

from redis import Redis


def started_jobs(conn: Redis, registry_key: str) -> list[str]:
    """The members of an RQ started-job registry (what the watchdog looks at)."""
    return [m.decode() if isinstance(m, bytes) else str(m) for m in conn.zrange(registry_key, 0, -1)]


def expire_started(conn: Redis, registry_key: str, members: list[str]) -> None:
    """Expire started-job entries now (RQ's cleanup then fails their jobs and runs their callbacks)."""
    conn.zadd(registry_key, dict.fromkeys(members, 0), xx=True)
