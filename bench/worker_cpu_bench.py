"""Worker CPU per monitor cycle: the Procfile's worker (with its work horses) over a minute of cycles.

The stack as the Procfile starts it (web, one worker, the cron scheduler), a real redis-server, the Slack
stand-in and a moto server; `demo.fake_account.compliant` over three regions; the monitor every 5 s. After
the first cycle (the baseline), the worker's CPU (user and system, its own and its reaped work horses', from
/proc) is read over 60 s, and the AWS calls of one region's observation are counted.

Run: `.venv/bin/python bench/worker_cpu_bench.py [seconds]` (default 60); prints Markdown.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis as RedisClient

from demo.fake_account import HOME, compliant
from demo.servers import aws_env, moto_server, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from workers.aws.accounts import Account, default_account
from workers.core.settings import Settings
from workers.resources import watched
from workers.state import monitor_records

REGIONS = ["us-east-1", "eu-west-1", "eu-central-1"]
INTERVAL = 5


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (its reaped children included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def observation_calls() -> Counter[str]:
    """The AWS calls of one observation of the home region (a trail with its bucket and alarm chain)."""
    acct = default_account(Settings(_env_file=None))  # type: ignore[call-arg]
    assert isinstance(acct, Account)
    before = Counter(acct.calls)
    watched.observe(acct, HOME)
    return Counter(acct.calls) - before


def main(seconds: float) -> None:
    """Run the stack, measure, print."""
    with moto_server() as moto, SlackStandIn() as slack:
        os.environ.update(aws_env(moto.url))
        compliant(REGIONS)
        redis = start_redis()
        env = {"TRAIL_AUDIT_REGIONS": ",".join(REGIONS), "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS",
               "TRAIL_AUDIT_MONITOR_SECONDS": str(INTERVAL)}
        stack = Stack(moto.url, redis.url, slack.api_url, "bench-secret", env)
        try:
            stack.start()
            conn = RedisClient.from_url(redis.url)
            while not monitor_records.last_cycle(conn):
                time.sleep(0.5)
            pid = stack.procs["worker"].pid
            start, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            used, took = cpu_seconds(pid) - start, time.monotonic() - t0
            calls = observation_calls()
        finally:
            stack.stop()
            redis.stop()
    cycles = took / INTERVAL
    print("| regions | seconds | cycles | worker CPU (s) | CPU per cycle (s) | calls observing the home region |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {len(REGIONS)} | {took:.0f} | {cycles:.0f} | {used:.2f} | {used / cycles:.3f} | {sum(calls.values())} |")
    print("\n" + ", ".join(f"{name} {n}" for name, n in sorted(calls.items())))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
