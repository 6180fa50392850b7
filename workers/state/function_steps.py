"""Workflow Builder steps in progress: each function execution's short-lived token (kept a day, never logged)
and what it waits for (an audit or a request). An audit's step is completed with its report; a request's by
the clock's sweep once it is decided (`workers.remediation.function_steps`)."""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys

TTL = keys.DAY  # a step not completed within a day is given up (Slack's execution ends before that)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def begin(conn: Redis, execution: str, token: str, subject: str) -> None:
    """Remember a step's execution (its token, and the audit or request id it waits for)."""
    if not execution or not token:
        raise ValueError("a function_executed event without its execution id or token")
    pipe = conn.pipeline(transaction=True)
    pipe.hset(keys.function_step(execution), mapping={"token": token, "subject": subject})
    pipe.expire(keys.function_step(execution), TTL)
    pipe.set(keys.function_of(subject), execution, ex=TTL)
    pipe.sadd(keys.FUNCTION_STEPS_OPEN, execution)
    pipe.execute()


def of_subject(conn: Redis, subject: str) -> str | None:
    """The step execution waiting for an audit or a request, if any."""
    raw = conn.get(keys.function_of(subject))
    return _text(raw) if raw else None


def token(conn: Redis, execution: str) -> str | None:
    """The execution's token, while it is kept."""
    raw = conn.hget(keys.function_step(execution), "token")
    return _text(raw) if raw else None


def open_steps(conn: Redis) -> list[tuple[str, str]]:
    """Every step not yet completed: (execution, the id it waits for)."""
    out = []
    for execution in sorted(_text(e) for e in conn.smembers(keys.FUNCTION_STEPS_OPEN)):
        subject = conn.hget(keys.function_step(execution), "subject")
        if subject is None:  # its record expired: nothing left to complete it with
            conn.srem(keys.FUNCTION_STEPS_OPEN, execution)
            continue
        out.append((execution, _text(subject)))
    return out


def stage_done(pipe: Pipeline, execution: str) -> None:
    """Stage the step as completed (its completion message is staged in the same commit)."""
    pipe.srem(keys.FUNCTION_STEPS_OPEN, execution)
