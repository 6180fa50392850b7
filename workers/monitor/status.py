"""What `/trail-audit status` says of the monitor: each account's last cycle and the open alerts (Redis only:
the web process reads it)."""

from __future__ import annotations

import json
import time

from redis import Redis

from workers.core.mrkdwn import escape
from workers.monitor import alerts
from workers.state import keys


def status_lines(conn: Redis) -> list[str]:
    """`/trail-audit status`'s monitor lines: each account's last cycle, its AWS calls, open alerts."""
    cycles = [json.loads(v) for v in conn.hvals(keys.MONITOR_ACCOUNTS)]
    if not cycles:
        return ["Monitor: no cycle yet"]
    lines = []
    for last in sorted(cycles, key=lambda c: c["account"]):
        when = time.strftime("%H:%M:%S UTC", time.gmtime(last["at"]))
        blind = f" · :warning: {len(last['unreadable'])} parts unreadable" if last.get("unreadable") else ""
        if last.get("truncated"):
            blind += f" · :warning: events read in part in {len(last['truncated'])} regions"
        lines.append(
            f"Monitor: last cycle {when} ({last['seconds']:.1f} s, {last['calls']} AWS calls, {last['regions']} "
            f"regions of {escape(last['account'])}){blind}"
        )
    return [*lines, f"Open alerts: {len(alerts.open_alerts(conn))}"]
