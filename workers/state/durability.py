"""An acknowledged transition survives a failover: it waits for replicas before anything is told or done.

Redis replicates asynchronously, so a primary that fails over can lose the last writes it acknowledged. The
transitions whose loss would break a promise (a backout executed and its deadline, an alert raised, a message
staged, a decision recorded) call `replicated` once committed: with `REDIS_WAIT_REPLICAS` = N it runs
`WAIT N REDIS_WAIT_MS` and raises `NotReplicated` when fewer replicas have the write in time. The caller then
stops before telling anyone or calling AWS, the job fails as Redis trouble does, and the work is retried: a
retry on a primary that kept the write finds it done (compare-and-set), one on a promoted replica that lost it
does it again. With 0 (the default, or no replicas) nothing waits.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger("trail_audit.state")


class NotReplicated(RedisConnectionError):
    """A committed write that fewer replicas than `REDIS_WAIT_REPLICAS` acknowledged within `REDIS_WAIT_MS`."""


def replicated(conn: Any) -> None:
    """Wait for the replicas the client asks for (`connection.Client.wait_replicas`); raise when too few have
    every write this connection made so far."""
    wanted = int(getattr(conn, "wait_replicas", 0) or 0)
    if wanted <= 0:
        return
    ms = int(getattr(conn, "wait_ms", 500) or 500)
    got = int(conn.wait(wanted, ms))
    if got < wanted:
        log.warning("write not replicated in time", extra={"replicas": got, "wanted": wanted, "ms": ms})
        raise NotReplicated(f"{got} of {wanted} Redis replicas acknowledged the write within {ms} ms")
