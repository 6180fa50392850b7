"""One clock runs the schedule however many are started: a lease in Redis, taken over when its holder dies.

Every clock tries to `hold` the lease on each tick; the one that holds it renews it, the others stand by and
take it once it lapses (`TRAIL_AUDIT_CLOCK_LEASE_SECONDS` after the holder last renewed). When each periodic
work is next due is kept in Redis, not in the holder's memory, and measured by Redis's clock: a clock that
takes over runs what is due on the old holder's schedule, so a takeover neither repeats nor skips a cycle,
and hosts whose clocks disagree agree on Redis's. Each run is claimed by the holder (`claim_run`) before it
starts, so two clocks that both believe they hold the lease (a holder paused past its lease) cannot both run it.
"""

from __future__ import annotations

from redis import Redis

from workers.state import keys

_HOLD = """
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lease, due; ARGV: holder, every (s). Returns 0 when claimed (due moved on), else seconds until due
# (-1 when this clock does not hold the lease).
_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return '-1' end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = tonumber(redis.call('GET', KEYS[2]) or '0')
if due > now then return tostring(due - now) end
local every = tonumber(ARGV[2])
redis.call('SET', KEYS[2], string.format('%.6f', now + every), 'PX', math.floor(every * 2000) + 60000)
return '0'
"""


def hold(conn: Redis, holder: str, seconds: float) -> bool:
    """Take or renew the clock lease for `seconds`; False while another clock holds it."""
    return bool(conn.register_script(_HOLD)(keys=[keys.CLOCK_LEASE], args=[holder, int(seconds * 1000)]))


def release(conn: Redis, holder: str) -> bool:
    """Give the lease up (a clock asked to stop), so another takes over at once; only its holder can."""
    return bool(conn.register_script(_RELEASE)(keys=[keys.CLOCK_LEASE], args=[holder]))


def holder(conn: Redis) -> str | None:
    """The clock holding the lease now, if any."""
    raw = conn.get(keys.CLOCK_LEASE)
    return raw.decode() if isinstance(raw, bytes) else raw


def claim_run(conn: Redis, holder: str, path: str, every: float) -> float:
    """Claim one run of the periodic work `path` for the lease's holder: 0.0 when it is due and now claimed
    (its next run moved `every` seconds on), else the seconds until it is due (-1.0: the lease is not held)."""
    script = conn.register_script(_CLAIM)
    return float(script(keys=[keys.CLOCK_LEASE, keys.clock_due(path)], args=[holder, f"{every:.6f}"]))
