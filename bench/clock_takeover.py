"""How long the schedule pauses when the clock running it is killed: two clocks and a worker (the Procfile's) on
a real redis-server and moto, a 5 s monitor interval; the clock holding the lease is killed (SIGKILL) halfway
through an interval, three times with each lease. Measured from the monitor cycles' start times: the gap
around the kill (5 s when nothing is lost), and that no two cycles ever start within one interval.

Run: `.venv/bin/python bench/clock_takeover.py [LEASE_SECONDS ...]` (default 2 15); prints a Markdown table.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from demo.fake_account import compliant
from demo.servers import aws_env, moto_server, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from workers.state import clock_lease, monitor_records

INTERVAL = 5


def once(aws_url: str, lease: int) -> tuple[float, float]:
    """One kill: the gap between the cycles around it, and the smallest gap of the run."""
    redis = start_redis()
    with SlackStandIn() as slack:
        env = {"TRAIL_AUDIT_REGIONS": "us-east-1", "TRAIL_AUDIT_MONITOR_SECONDS": str(INTERVAL),
               "TRAIL_AUDIT_CLOCK_LEASE_SECONDS": str(lease), "TRAIL_AUDIT_SWEEP_SECONDS": "1"}  # fmt: skip
        stack = Stack(aws_url, redis.url, slack.api_url, "bench", env).start("worker", "clock", "clock#2")
        try:
            conn = stack.redis()
            while len(monitor_records.cycle_starts(conn)) < 3:
                time.sleep(0.2)
            last = monitor_records.cycle_starts(conn)[-1]
            time.sleep(max(0.0, last + INTERVAL / 2 - time.time()))  # halfway to the next cycle
            holder = (clock_lease.holder(conn) or "::").split(":")[1]
            name = next(n for n, p in stack.procs.items() if str(p.pid) == holder)
            stack.kill(name)
            killed = time.time()
            while len([t for t in monitor_records.cycle_starts(conn) if t > killed]) < 3:
                time.sleep(0.2)
            starts = monitor_records.cycle_starts(conn)
            gaps = [b - a for a, b in itertools.pairwise(starts)]
            around = next(b - a for a, b in itertools.pairwise(starts) if a < killed < b)
            return around, min(gaps)
        finally:
            stack.stop()
            redis.stop()


def main() -> None:
    leases = [int(a) for a in sys.argv[1:]] or [2, 15]
    print("| lease (s) | run | gap between the cycles around the kill (s) | smallest gap between two cycles (s) |")
    print("| ---: | ---: | ---: | ---: |")
    with moto_server() as moto:
        os.environ.update(aws_env(moto.url))
        compliant(["us-east-1"])
        for lease in leases:
            for run in range(1, 4):
                around, smallest = once(moto.url, lease)
                print(f"| {lease} | {run} | {around:.1f} | {smallest:.1f} |", flush=True)


if __name__ == "__main__":
    main()
