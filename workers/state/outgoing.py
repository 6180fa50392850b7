"""The outbox's records: every message to Slack, staged inside the transition it describes, due until delivered.

A message is a hash (`keys.message(id)`): where it goes, its newest body and version, and once delivered its
`ts`. `stage` writes it in the caller's transaction, so a message is committed with the state change it
describes, never before it. The due list (`keys.OUTBOX_DUE`) holds what is waiting and when it is next tried;
the dead list, what was given up. Delivery itself is `workers.slack.outbox`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys
from workers.state.durability import replicated

# Lua: the per-channel gate. Returns 0 and takes the slot when it is free, else the seconds to wait.
_GATE = """
local now = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nxt > now then return tostring(nxt - now) end
redis.call('SET', KEYS[1], tostring(now + tonumber(ARGV[2])), 'PX', tonumber(ARGV[3]))
return '0'
"""


@dataclass(frozen=True)
class Delivered:
    """Where a message landed: its channel and ts (None for ephemeral messages and response_url answers)."""

    channel: str | None
    ts: str | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def stage(
    pipe: Pipeline,
    message_id: str,
    channel: str | None,
    body: dict[str, Any],
    thread: str | None = None,
    response_url: str | None = None,
    user: str | None = None,
    kind: str = "message",
) -> str:
    """Write (or replace) a message in the caller's transaction; it is due at once. Returns its id.

    `thread` is the id of the message this one replies to; `kind` is "file" (`body` names a report and a
    format: its findings are uploaded when sent), "message", "ephemeral" (to `user` in
    `channel`) or "response" (through `response_url` only)."""
    key = keys.message(message_id)
    fields: dict[Any, Any] = {
        "body": json.dumps(body),
        "channel": channel or "",
        "thread": thread or "",
        "kind": kind,
        "response_url": response_url or "",
        "user": user or "",
    }
    pipe.hset(key, mapping=fields)
    pipe.hsetnx(key, "first", f"{time.time():.3f}")
    pipe.hincrby(key, "version", 1)
    pipe.expire(key, keys.MESSAGE_TTL)
    pipe.zadd(keys.OUTBOX_DUE, {message_id: time.time()})
    pipe.zrem(keys.OUTBOX_DEAD, message_id)
    return message_id


def commit(conn: Redis, message_id: str, channel: str | None, body: dict[str, Any], **kwargs: Any) -> str:
    """Stage one message in a transaction of its own (a message that describes no state change)."""
    pipe = conn.pipeline(transaction=True)
    stage(pipe, message_id, channel, body, **kwargs)
    pipe.execute()
    replicated(conn)
    return message_id


def lease(conn: Redis, message_ids: list[str], seconds: float) -> None:
    """Keep queued messages off the due list for `seconds` (their delivery job has them meanwhile)."""
    conn.zadd(keys.OUTBOX_DUE, {m: time.time() + seconds for m in message_ids}, xx=True)


def due(conn: Redis, until: float, limit: int | None = None) -> list[str]:
    """The messages due by `until`, soonest first."""
    if limit is None:
        return [_text(m) for m in conn.zrangebyscore(keys.OUTBOX_DUE, 0, until)]
    return [_text(m) for m in conn.zrangebyscore(keys.OUTBOX_DUE, 0, until, start=0, num=limit)]


def record(conn: Redis, message_id: str) -> dict[str, str]:
    """A message's record (empty when it is gone)."""
    return {_text(k): _text(v) for k, v in conn.hgetall(keys.message(message_id)).items()}


def forget(conn: Redis, message_id: str) -> None:
    """Take a message whose record is gone off the due list."""
    conn.zrem(keys.OUTBOX_DUE, message_id)


def where(conn: Redis, message_id: str) -> Delivered | None:
    """Where a message landed, once delivered to a channel (None before, or for answers without a ts)."""
    found = conn.hmget(keys.message(message_id), "posted_channel", "ts")
    return Delivered(_text(found[0]), _text(found[1])) if found[1] else None


def answered_by_url(conn: Redis, message_id: str) -> str | None:
    """The response_url a message went to instead of its channel (its thread replies follow it), if any."""
    via, url = conn.hmget(keys.message(message_id), "via", "response_url")
    return _text(url) if via and _text(via) == "response_url" and url else None


def use_response_url(conn: Redis, message_id: str) -> None:
    """Remember that a message went to its response_url (the bot is not in its channel)."""
    conn.hset(keys.message(message_id), "via", "response_url")


def lock(conn: Redis, message_id: str, ms: int) -> bool:
    """One delivery of a message at a time (held at most `ms`)."""
    return bool(conn.set(keys.message_lock(message_id), "1", nx=True, px=ms))


def unlock(conn: Redis, message_id: str) -> None:
    """Let the next delivery of a message go."""
    conn.delete(keys.message_lock(message_id))


def mark_sent(conn: Redis, message_id: str, version: int, landed: Delivered) -> None:
    """Record that `version` of a message was delivered (and where, when it has a ts)."""
    fields: dict[Any, Any] = {"sent": str(version), "attempts": "0", "error": ""}
    if landed.ts:
        fields |= {"ts": landed.ts, "posted_channel": landed.channel or ""}
    conn.hset(keys.message(message_id), mapping=fields)


def settle(conn: Redis, message_id: str, version: int) -> bool:
    """Take the message off the due list unless a newer body was staged meanwhile (then it is due at once);
    True when a newer body is waiting."""
    key = keys.message(message_id)

    def attempt(pipe: Pipeline) -> None:
        now = int(_text(pipe.hget(key, "version") or b"0"))
        pipe.multi()
        if now <= version:
            pipe.zrem(keys.OUTBOX_DUE, message_id)
        else:
            pipe.zadd(keys.OUTBOX_DUE, {message_id: time.time()})

    conn.transaction(attempt, key)
    return int(_text(conn.hget(key, "version") or b"0")) > version


def take_slot(conn: Redis, channel: str, gap: float) -> float:
    """Take the channel's next posting slot: 0 when taken now, else the seconds until it is free."""
    gate = conn.register_script(_GATE)
    args: list[str | int] = [f"{time.time():.6f}", f"{gap:.6f}", keys.SLOT_TTL_MS]
    return float(gate(keys=[keys.rate(f"slack:{channel}")], args=args))


def retry_later(conn: Redis, message_id: str, attempts: int, error: str, delay: float) -> None:
    """Note a failed try and make the message due again in `delay` seconds."""
    pipe = conn.pipeline(transaction=True)
    pipe.hset(keys.message(message_id), mapping={"attempts": str(attempts), "error": error})
    pipe.zadd(keys.OUTBOX_DUE, {message_id: time.time() + delay})
    pipe.execute()


def give_up(conn: Redis, message_id: str, reason: str) -> None:
    """Stop trying a message: off the due list, onto the dead list, with why."""
    pipe = conn.pipeline(transaction=True)
    pipe.hset(keys.message(message_id), "error", reason)
    pipe.zrem(keys.OUTBOX_DUE, message_id)
    pipe.zadd(keys.OUTBOX_DEAD, {message_id: time.time()})
    pipe.execute()


def undelivered(conn: Redis, limit: int = 10) -> list[dict[str, Any]]:
    """Messages given up on (newest first): for `/trail-audit status`."""
    out = []
    dead: list[Any] = list(conn.zrevrange(keys.OUTBOX_DEAD, 0, limit - 1, withscores=True))
    for raw, at in dead:
        mid = _text(raw)
        found = conn.hmget(keys.message(mid), "channel", "error")
        out.append({"id": mid, "at": at, "channel": _text(found[0] or b""), "error": _text(found[1] or b"")})
    return out


def backlog(conn: Redis) -> int:
    """How many messages are waiting for delivery."""
    return int(conn.zcard(keys.OUTBOX_DUE))


def dead_count(conn: Redis) -> int:
    """How many messages were given up."""
    return int(conn.zcard(keys.OUTBOX_DEAD))
