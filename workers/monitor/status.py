"""What `/trail-audit status` says of the monitor: each account's last cycle and the open alerts (Redis only:
the web process reads it)."""

from __future__ import annotations

import time

from redis import Redis

from workers.core.mrkdwn import escape
from workers.monitor import pace
from workers.state import alert_records, clock_lease, monitor_records

SHOWN = 5  # accounts listed one by one; beyond, only those not fully watched (up to this many)


def status_lines(conn: Redis) -> list[str]:
    """`/trail-audit status`'s monitor lines: N of M accounts covered, each account's last cycle (or, for many
    accounts, those not fully watched), open alerts."""
    cycles = list(monitor_records.cycles(conn).values())
    behind = pace.warning(monitor_records.coverage(conn))  # our own numbers: nothing from outside to escape
    if not cycles:
        return ["Monitor: no cycle yet", *([behind] if behind else [])]
    lines = [_coverage(conn, cycles), *([behind] if behind else [])]
    shown = sorted(cycles, key=lambda c: c["account"])
    if len(shown) > SHOWN:
        shown = [c for c in shown if c.get("unreadable") or c.get("truncated")][:SHOWN]
    for last in shown:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(last["at"]))
        blind = f" · :warning: {len(last['unreadable'])} parts unreadable" if last.get("unreadable") else ""
        if last.get("truncated"):
            blind += f" · :warning: events read in part in {len(last['truncated'])} regions"
        lines.append(
            f"Monitor: last cycle {when} ({last['seconds']:.1f} s, {last['calls']} AWS calls, {last['regions']} "
            f"regions of {escape(last['account'])}){blind}"
        )
    return [*lines, *left_lines(conn), clock_line(conn), f"Open alerts: {len(alert_records.open_alerts(conn))}"]


def clock_line(conn: Redis) -> str:
    """Which clock runs the schedule (however many are started, one does: `clock_lease`)."""
    holder = clock_lease.holder(conn)
    if holder is None:
        return ":warning: Clock: none running: no monitor cycle and no backout deadline until one starts"
    return f"Clock: {escape(holder)} runs the schedule"


def left_lines(conn: Redis) -> list[str]:
    """One line per account that left the organization while watched (until it is listed again)."""
    out = []
    for account, note in sorted(monitor_records.left(conn).items()):
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(note.get("at", 0))))
        trails = ", ".join(str(t).rsplit("/", 1)[-1] for t in note.get("trails") or []) or "the organization trail"
        out.append(f":warning: Account {escape(account)} left the organization at {when}: {escape(trails)} no "
                   "longer covers it")  # fmt: skip
    return out


def _coverage(conn: Redis, cycles: list[dict[str, object]]) -> str:
    plan = monitor_records.coverage(conn) or {"accounts": len(cycles), "interval": 60}
    fresh = time.time() - 3 * float(plan["interval"])
    watched = sum(1 for c in cycles if float(str(c["at"])) >= fresh and not c.get("unreadable"))
    total = max(int(plan["accounts"]), len(cycles))
    return f"Monitor: {watched} of {total} account{'' if total == 1 else 's'} covered"
