"""The monitor's records: each region's last known state, the events already alerted, a burst's group, the
cycle summaries, the blind-spot flags and each account's cycle lock.

`commit_alerts` is the one commit of changes and their alerts, used by the poller and the pushed path alike:
under WATCH of the open-alert index (and whatever else the caller reads), it drops the alerts whose change is
already open, then writes the region's new state, the events seen, the alert records and the message that
shows them, in one MULTI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.state import keys

Reader = Redis | Pipeline


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Changes:
    """What one commit writes: the alerts it may raise and what goes with them."""

    docs: list[dict[str, Any]] = field(default_factory=list)  # the alerts to raise (a change's, an event's)
    seen: set[str] = field(default_factory=set)  # event ids now explained or alerted
    state: dict[str, Any] | None = None  # the region's new known state ({"at", "since", "state"}), if observed
    burst: tuple[str, int] | None = None  # (key, ms): the group new alerts join while the key lasts
    stage: Callable[[Pipeline, list[dict[str, Any]]], str | None] | None = None  # records and message of `docs`


def commit_alerts(
    conn: Redis, account: str, region: str, read: Callable[[Pipeline], Changes | None], *watch: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Commit `read(pipe)`'s changes atomically; returns the alerts raised and the message staged."""
    out: dict[str, Any] = {}

    def attempt(pipe: Pipeline) -> None:
        out.clear()
        changes = read(pipe)
        if changes is None:
            return
        raised = [d for d in changes.docs
                  if d["field"] in ("attempt", "event") or not pipe.hexists(keys.ALERTS_OPEN, d["key"])]  # fmt: skip
        pipe.multi()
        if changes.state is not None:
            pipe.set(keys.region_state(account, region), json.dumps(changes.state))
            pipe.zremrangebyscore(keys.alerts_recent(account, region), 0, time.time() - keys.ALERTS_RECENT_KEEP)
        for event_id in changes.seen:
            pipe.set(keys.event_seen(event_id), "1", ex=keys.EVENT_SEEN_TTL)
        out["message"] = changes.stage(pipe, raised) if changes.stage else None
        if raised and changes.burst is not None:
            pipe.set(changes.burst[0], raised[0]["group"], px=changes.burst[1])
        out["raised"] = raised

    conn.transaction(attempt, keys.ALERTS_OPEN, *watch)
    return list(out.get("raised", [])), out.get("message")


def region_state(reader: Reader, account: str, region: str) -> dict[str, Any] | None:
    """A region's last known state as the poller left it: `{"at", "since", "state"}` (None before the first)."""
    raw = reader.get(keys.region_state(account, region))
    return dict(json.loads(raw)) if raw else None


def region_states(reader: Redis, account: str, regions: list[str]) -> dict[str, dict[str, Any] | None]:
    """Every region's last known state at once (one round trip)."""
    raws = reader.mget([keys.region_state(account, r) for r in regions]) if regions else []
    return {r: dict(json.loads(raw)) if raw else None for r, raw in zip(regions, raws, strict=True)}


def seen_keys(event_ids: list[str]) -> list[str]:
    """The keys that say these events were alerted or explained (to WATCH them)."""
    return [keys.event_seen(e) for e in event_ids]


def is_seen(reader: Reader, event_id: str) -> bool:
    """Whether an event was already alerted or explained."""
    return bool(reader.exists(keys.event_seen(event_id)))


def mark_seen(conn: Redis, event_id: str) -> None:
    """Remember that an event explains an alert (it is not alerted again)."""
    conn.set(keys.event_seen(event_id), "1", ex=keys.EVENT_SEEN_TTL)


def burst_key(account: str, region: str) -> str:
    """The key a burst of pushed alerts of one account and region keeps its group under."""
    return keys.event_burst(account, region)


def burst_group(reader: Reader, key: str) -> str | None:
    """The group a burst opened, while its key lasts."""
    raw = reader.get(key)
    return _text(raw) if raw else None


def known_regions(reader: Reader, account: str, requested: list[str]) -> dict[str, list[str]] | None:
    """An account's regions as `remember_regions` kept them (None when not kept or expired)."""
    raw = reader.get(keys.monitor_regions(account, ",".join(requested)))
    return dict(json.loads(raw)) if raw else None


def remember_regions(conn: Redis, account: str, requested: list[str], plan: dict[str, list[str]], ttl: int) -> None:
    """Keep an account's enabled and skipped regions for `ttl` seconds."""
    conn.set(keys.monitor_regions(account, ",".join(requested)), json.dumps(plan), ex=ttl)


def mark_pending(conn: Redis, role: str, seconds: float) -> bool:
    """Note that an account's watch job is queued; False when the previous one has not started yet."""
    return bool(conn.set(keys.monitor_pending(role), "1", nx=True, ex=max(1, int(seconds))))


def started(conn: Redis, role: str) -> None:
    """An account's watch job has started (the next cycle may queue another)."""
    conn.delete(keys.monitor_pending(role))


def flagged(conn: Redis, names: list[str]) -> list[bool]:
    """Whether a blind-spot flag (or a broken pushed path's) is set, for each of `names` (one round trip)."""
    pipe = conn.pipeline(transaction=False)
    for who in names:
        pipe.exists(keys.monitor_blind(who))
    return [bool(n) for n in pipe.execute()]


def lock_account(conn: Redis, account: str, seconds: float) -> bool:
    """One cycle of an account at a time (held at most `seconds`)."""
    return bool(conn.set(keys.monitor_lock(account), "1", nx=True, ex=int(seconds)))


def unlock_account(conn: Redis, account: str) -> None:
    """End an account's cycle lock."""
    conn.delete(keys.monitor_lock(account))


def record_cycle(conn: Redis, account: str, summary: dict[str, Any]) -> None:
    """Keep an account's newest cycle summary (and the newest of all)."""
    conn.set(keys.MONITOR_LAST, json.dumps(summary))
    conn.hset(keys.MONITOR_ACCOUNTS, account, json.dumps(summary))


def record_coverage(conn: Redis, planned: dict[str, Any]) -> None:
    """What the newest cycle set out to watch, and when (and when each of the last 100 cycles ran)."""
    pipe = conn.pipeline(transaction=True)
    pipe.set(keys.MONITOR_COVERAGE, json.dumps(planned))
    pipe.lpush(keys.MONITOR_CYCLE_STARTS, f"{planned.get('at', 0):.3f}")
    pipe.ltrim(keys.MONITOR_CYCLE_STARTS, 0, 99)
    pipe.execute()


def cycles(conn: Redis) -> dict[str, dict[str, Any]]:
    """Every account's newest cycle summary."""
    return {_text(k): json.loads(v) for k, v in conn.hgetall(keys.MONITOR_ACCOUNTS).items()}


def coverage(conn: Redis) -> dict[str, Any] | None:
    """What the newest cycle set out to watch."""
    raw = conn.get(keys.MONITOR_COVERAGE)
    return dict(json.loads(raw)) if raw else None


def cycle_starts(conn: Redis) -> list[float]:
    """When the last 100 monitor cycles ran (however many clocks run), oldest first."""
    return sorted(float(_text(t)) for t in conn.lrange(keys.MONITOR_CYCLE_STARTS, 0, -1))


def last_cycle(conn: Redis) -> dict[str, Any] | None:
    """The newest cycle summary of any account."""
    raw = conn.get(keys.MONITOR_LAST)
    return dict(json.loads(raw)) if raw else None


def flag(conn: Redis, who: str, why: str | None, stage: Callable[[Pipeline], str | None]) -> list[str]:
    """Set (a reason) or clear (None) a blind-spot flag; on a change, commit `stage(pipe)`'s notice with it.
    Returns the staged message ids (none when the flag already said so)."""
    key = keys.monitor_blind(who)
    staged: list[str] = []

    def attempt(pipe: Pipeline) -> None:
        staged.clear()
        if bool(pipe.exists(key)) == (why is not None):
            return  # already said
        pipe.multi()
        if why is None:
            pipe.delete(key)
        else:
            pipe.set(key, why)
        mid = stage(pipe)
        if mid:
            staged.append(mid)

    conn.transaction(attempt, key)
    return staged


def leave(conn: Redis, account: str, note: dict[str, Any], stage: Callable[[Pipeline], str | None]) -> list[str]:
    """An account the organization no longer lists leaves the watched ones (its cycle summary) for the left
    ones, committed with `stage(pipe)`'s alert, once however many clocks see it. Returns the staged ids."""
    staged: list[str] = []

    def attempt(pipe: Pipeline) -> None:
        staged.clear()
        if not pipe.hexists(keys.MONITOR_ACCOUNTS, account):
            return  # another clock moved it
        pipe.multi()
        pipe.hdel(keys.MONITOR_ACCOUNTS, account)
        pipe.hset(keys.MONITOR_LEFT, account, json.dumps(note))
        mid = stage(pipe)
        if mid:
            staged.append(mid)

    conn.transaction(attempt, keys.MONITOR_ACCOUNTS)
    return staged


def once(conn: Redis, event_id: str, stage: Callable[[Pipeline], str | None]) -> list[str] | None:
    """Commit `stage(pipe)` (an alert, a redrawn message) with the mark that `event_id` was handled, unless it
    was: None then (two consumers, one message). Returns the staged message ids."""
    key = keys.event_seen(event_id)
    staged: list[str] = []
    done = [False]

    def attempt(pipe: Pipeline) -> None:
        staged.clear()
        done[0] = bool(pipe.exists(key))
        if done[0]:
            return
        pipe.multi()
        pipe.set(key, "1", ex=keys.EVENT_SEEN_TTL)
        mid = stage(pipe)
        if mid:
            staged.append(mid)

    conn.transaction(attempt, key)
    return None if done[0] else staged


def organization_trails(conn: Redis, account: str) -> list[str]:
    """The organization trails in an account's last known states (every region the poller has read)."""
    found: set[str] = set()
    for key in conn.scan_iter(match=keys.region_state(account, "*"), count=500):
        state = json.loads(conn.get(key) or "{}").get("state") or {}
        trails = state.get("trails") or {}
        found |= {arn for arn, t in trails.items() if isinstance(t, dict) and (t.get("config") or {}).get(
            "IsOrganizationTrail")}  # fmt: skip
    return sorted(found)


def left(conn: Redis) -> dict[str, dict[str, Any]]:
    """Accounts that left the organization while watched: account -> when and what no longer covers it."""
    return {_text(k): json.loads(v) for k, v in conn.hgetall(keys.MONITOR_LEFT).items()}


def rejoined(conn: Redis, accounts: set[str]) -> None:
    """Accounts the organization lists again are no longer said to have left."""
    if accounts:
        conn.hdel(keys.MONITOR_LEFT, *accounts)


def blind_spots(conn: Redis) -> list[str]:
    """Every blind spot said and not yet gone: `who: why`."""
    prefix = keys.monitor_blind("")
    return [f"{_text(k).removeprefix(prefix)}: {_text(conn.get(k) or b'')}"
            for k in conn.scan_iter(match=keys.monitor_blind("*"), count=500)]  # fmt: skip
