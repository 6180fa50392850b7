"""One atomic write: what a caller stages on the pipe is committed together (MULTI/EXEC), or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.client import Pipeline

from workers.state.durability import replicated


@contextmanager
def atomic(conn: Redis) -> Iterator[Pipeline]:
    """`with atomic(conn) as pipe:` stage records and messages on `pipe`; they commit when the block ends
    (nothing is written when it raises)."""
    pipe = conn.pipeline(transaction=True)
    yield pipe
    pipe.execute()
    replicated(conn)  # told or done outside only once a replica has it (REDIS_WAIT_REPLICAS)

