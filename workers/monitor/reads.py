"""How much of an account one monitor cycle reads, and why that still catches every change.

Most of what the monitor reads does not change between two cycles, and reading it all every minute is most of
what watching costs (88 calls an account over 17 regions, before). A cycle reads:

- the enabled regions once an hour per account (`DescribeRegions`; kept in Redis for every worker);
- the trails listed once per account (`ListTrails` names each trail and its home region), then
  `DescribeTrails` only in the regions that home one (or homed one at the last look, to see it gone);
- each region's Config recorders by their status alone (one call: recording, and a deleted recorder), the
  channels not at all while every recorder records (AWS refuses to delete a recording recorder's channel); the
  whole of both every `TRAIL_AUDIT_MONITOR_FULL_CYCLES` cycles (staggered over the regions), at the first
  look, and whenever the region has an open alert or a trail-audit action ran there;
- `LookupEvents` only when the look found a change or the region has an open alert (who did it, who put it
  back), and otherwise every `TRAIL_AUDIT_LOOKUP_CYCLES` cycles, or never while the pushed event path of the
  region is configured and not said broken (it delivers every call within seconds);
- while that pushed path is healthy, a quiet region (no open alert) at all only every
  `TRAIL_AUDIT_PUSHED_POLL_CYCLES` cycles: the poller is then the backstop of a path that alerts in seconds.

So with the pushed path off, each watched field is compared every cycle, except a recorder's recording group
and frequency and a channel that cannot be deleted: within `TRAIL_AUDIT_MONITOR_FULL_CYCLES` intervals. With
it on, every field within `TRAIL_AUDIT_PUSHED_POLL_CYCLES` intervals (times the full-read bound for those
three). docs/BENCHMARKS.md gives the calls this saves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from redis import Redis

from workers.aws.accounts import Account
from workers.aws.calls import Fact, paginate
from workers.aws.errors import ApiError
from workers.aws.event_history import LOOKUP_ATTEMPTS, ChangeEvent, recent_writes
from workers.aws.regions import RegionPlan, plan
from workers.core.settings import Settings
from workers.monitor.notices import event_path
from workers.resources.watched import listed_trails
from workers.state import alert_records, executed_actions, monitor_records
from workers.state.rate_limit import RedisLimiter

REGIONS_FOR = 3600  # seconds an account's enabled regions are kept
EVENT_DELAY = 15 * 60  # CloudTrail's event history can take this long to show an event
LOOKBACK = 20 * 60  # the least history a lookup reads


def regions(conn: Redis, settings: Settings, acct: Account) -> RegionPlan | ApiError:
    """The account's regions to watch: `DescribeRegions` at most once an hour (a failure is never kept)."""
    kept = monitor_records.known_regions(conn, acct.id, settings.regions)
    if kept is not None:
        return RegionPlan(kept["enabled"], kept["skipped"])
    found = plan(acct, settings.home_region, settings.regions)
    if isinstance(found, RegionPlan):
        monitor_records.remember_regions(conn, acct.id, settings.regions,
                                         {"enabled": found.enabled, "skipped": found.skipped}, REGIONS_FOR)  # fmt: skip
    return found


def trail_homes(acct: Account, settings: Settings) -> set[str] | None:
    """The regions that home one of the account's trails (`ListTrails`, once for every region), or None when
    it could not be listed (then every region is asked)."""
    found = paginate(acct, "cloudtrail", settings.home_region, "ListTrails", "Trails")
    if isinstance(found, ApiError):
        return None
    return {str(t.get("HomeRegion")) for t in found if t.get("HomeRegion")}


def trails_in(acct: Account, region: str, homes: set[str] | None, known: dict[str, Any] | None) -> Fact:
    """The region's `DescribeTrails` answer where a trail is homed now or was at the last look; an empty one,
    without a call, elsewhere."""
    if homes is None or region in homes or ((known or {}).get("trails") or {}):
        return listed_trails(acct, region)
    return {"trailList": []}


def cycle_number(settings: Settings, now: float) -> int:
    """Which interval `now` falls in (every account and region counts the same)."""
    return int(now // settings.monitor_seconds)


def _due(every: int, cycle: int, index: int) -> bool:
    """Every `every` cycles, the regions of an account taking their turns (index: the region's place)."""
    return (cycle + index) % every == 0


def full_read(settings: Settings, cycle: int, index: int, open_here: list[dict[str, Any]], acted: bool) -> bool:
    """Whether a region's look reads everything (see the module's rules); the first look always does."""
    return bool(open_here) or acted or _due(settings.monitor_full_cycles, cycle, index)


@dataclass
class Snapshot:
    """What one account's cycle knows before it reads AWS, read from Redis once for all its regions: the
    interval's number, the regions homing a trail, the open alerts, each region's last known state, the
    trail-audit actions since the oldest of them, and where the pushed path is healthy."""

    number: int
    homes: set[str] | None
    open: list[dict[str, Any]]
    states: dict[str, dict[str, Any] | None]
    actions: list[dict[str, Any]]
    healthy: dict[str, bool]

    def open_in(self, region: str) -> list[dict[str, Any]]:
        """The region's open alerts."""
        return [d for d in self.open if d["region"] == region]


def snapshot(
    conn: Redis, settings: Settings, account: str, regions: list[str], homes: set[str] | None, now: float
) -> Snapshot:
    """The account's Snapshot."""
    states = monitor_records.region_states(conn, account, regions)
    oldest = min((s["at"] for s in states.values() if s), default=now)
    healthy = dict.fromkeys(regions, False)
    if settings.events_queue_url:
        broken = monitor_records.flagged(conn, [event_path(account, r) for r in regions])
        healthy = {r: not b for r, b in zip(regions, broken, strict=True)}
    return Snapshot(cycle_number(settings, now), homes, alert_records.open_alerts(conn, account), states,
                    executed_actions.since(conn, oldest - 5), healthy)  # fmt: skip


def look_due(settings: Settings, snap: Snapshot, region: str, index: int) -> bool:
    """Whether a region is looked at this cycle: always, except that while its pushed path is healthy (every
    call arrives within seconds) a quiet region is looked at in its turn, every TRAIL_AUDIT_PUSHED_POLL_CYCLES."""
    if not snap.healthy.get(region) or snap.open_in(region) or snap.states.get(region) is None:
        return True
    return _due(settings.pushed_poll_cycles, snap.number, index)


def lookup_due(settings: Settings, cycle: int, index: int, attention: bool, healthy: bool) -> bool:
    """Whether a region's look reads CloudTrail's event history: at once when something needs attributing
    (`attention`), else in its turn unless the pushed path delivers the calls."""
    return attention or (not healthy and _due(settings.lookup_cycles, cycle, index))


def lookback(settings: Settings) -> float:
    """Seconds of history a lookup reads: enough to cover the turns skipped and CloudTrail's delay."""
    return max(LOOKBACK, settings.lookup_cycles * settings.monitor_seconds + EVENT_DELAY)


def events(
    acct: Account, region: str, now: float, limiter: RedisLimiter, settings: Settings
) -> tuple[list[ChangeEvent], bool] | ApiError:
    """The region's watched calls of the lookback, and whether the read was cut short."""
    client = acct.client("cloudtrail", region, max_attempts=LOOKUP_ATTEMPTS)
    end = dt.datetime.fromtimestamp(now, dt.UTC)
    start = end - dt.timedelta(seconds=lookback(settings))
    return recent_writes(client, acct.id, region, start, end, limiter, settings.lookup_max_pages)
