"""Whether the workers keep up with the monitor: each cycle's plan, the accounts still waiting from the last one,
and what would let every account be watched every interval (more workers, or a longer interval).

`record` runs in the clock with each cycle; `status` and the Home say the warning (`warning`) and `/metrics`
shows the numbers. A job's seconds are its wall time (its regions are read in parallel), and a worker runs
one job at a time, so a cycle needs `accounts x seconds` of worker time within the interval.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from redis import Redis
from rq import Worker

from workers.core.settings import Settings
from workers.queue.queues import MONITOR
from workers.state import monitor_records

HEADROOM = 0.8  # the share of an interval a worker is planned to be busy


def _workers(conn: Redis) -> int:
    """Workers serving the monitor queue now."""
    return sum(1 for w in Worker.all(connection=conn) if MONITOR in w.queue_names())


def _job_seconds(conn: Redis, settings: Settings, now: float) -> float | None:
    """The median wall time of the accounts' watch jobs of the last three intervals (None: none yet)."""
    fresh = now - 3 * settings.monitor_seconds
    found = [float(c["seconds"]) for c in monitor_records.cycles(conn).values() if float(c.get("at", 0)) >= fresh]
    return statistics.median(found) if found else None


def plan(accounts: int, behind: int, seconds: float | None, workers: int, interval: int) -> dict[str, Any]:
    """A cycle's pace: its load (worker time needed over worker time available), and when it is too much, the
    workers or the interval that would cover every account (pure: tested directly)."""
    out: dict[str, Any] = {"accounts": accounts, "behind": behind, "job_seconds": seconds, "workers": workers,
                           "interval": interval}  # fmt: skip
    if seconds is None:
        return out | {"load": None, "short": behind > 0}
    need = accounts * seconds
    load = need / (max(1, workers) * interval)
    out |= {"load": round(load, 3), "short": behind > 0 or load > HEADROOM}
    if out["short"]:
        out["suggest_workers"] = max(workers + (behind > 0), math.ceil(need / (interval * HEADROOM)))
        out["suggest_interval"] = max(interval + 1, 10 * math.ceil(need / (max(1, workers) * HEADROOM) / 10))
    return out


def record(conn: Redis, settings: Settings, accounts: int, behind: int) -> dict[str, Any]:
    """Keep this cycle's plan and pace (what `status`, the Home and `/metrics` read)."""
    now = time.time()
    paced = plan(accounts, behind, _job_seconds(conn, settings, now), _workers(conn), settings.monitor_seconds)
    monitor_records.record_coverage(conn, paced | {"at": now})
    return paced


def warning(paced: dict[str, Any] | None) -> str | None:
    """The sentence `status` and the Home show when the monitor cannot watch every account every interval."""
    if not paced or not paced.get("short"):
        return None
    n, interval = int(paced["accounts"]), int(paced["interval"])
    said = (f"{paced['behind']} of {n} accounts were still waiting from the last cycle" if paced.get("behind")
            else f"{n} accounts need {float(paced['load']) * 100:.0f}% of the workers' time")  # fmt: skip
    how = ""
    if paced.get("suggest_workers"):
        how = (f" Run {paced['suggest_workers']} workers (now {paced['workers']}), or set "
               f"TRAIL_AUDIT_MONITOR_SECONDS to {paced['suggest_interval']}.")  # fmt: skip
    seconds = f" (a job takes {float(paced['job_seconds']):.2f} s)" if paced.get("job_seconds") is not None else ""
    return f":warning: The monitor cannot watch every account every {interval} s: {said}{seconds}.{how}"
