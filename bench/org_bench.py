"""Many accounts: the Slack audit of N accounts over 17 regions, fanned out to 1, 2 or 4 workers.

moto (one server; every account reached by sts:AssumeRole, each in its own state: empty, so every check
fails and no trail-specific call is made) behind a proxy that adds 100 ms to every AWS call, a real
redis-server, the Slack stand-in, and only worker processes (the audit is queued as the web process would).
Measures wall time from queueing to the report, CPU per account-region (worker processes and their work
horses), the peak RSS of any worker process, Redis memory after, and the report's size.

Run: `.venv/bin/python bench/org_bench.py [accounts ...]` (default 10 100; `BENCH_WORKERS=4` for one worker
count); prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audit_bench import REGIONS
from bench.latency_proxy import spawn
from demo.servers import aws_env, moto_server, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from workers.queue import paths
from workers.queue.queues import queue
from workers.state import keys

TICK = os.sysconf("SC_CLK_TCK")
WORKERS = [int(w) for w in os.environ.get("BENCH_WORKERS", "1,2,4").split(",")]  # BENCH_WORKERS=4: only 4


def cpu_seconds(pid: int) -> float:
    """A process's CPU and its reaped children's (an RQ worker's work horses), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def peak_rss(pids: list[int], stop: threading.Event, seen: list[int]) -> None:
    """Sample the largest RSS (KiB) of any process in the workers' sessions until `stop`."""
    while not stop.is_set():
        for pid in pids:
            out = subprocess.run(["ps", "-o", "rss=", "-s", str(pid)], capture_output=True, text=True, check=False)
            seen.extend(int(x) for x in out.stdout.split() if x.isdigit())
        time.sleep(0.2)


def run(
    accounts: int, workers: int, aws_url: str, redis_url: str | None = None, redis_env: dict[str, str] | None = None
) -> tuple[float, float, float, float, int]:
    """One audit of `accounts` on `workers` processes, on a redis-server of its own (or `redis_url`, reached with
    `redis_env`: TLS, say): wall, CPU per account-region, peak RSS, Redis memory, report size."""
    roles = ",".join(f"arn:aws:iam::{100000000000 + n}:role/TrailAudit" for n in range(accounts))
    redis = start_redis() if redis_url is None else None
    with SlackStandIn() as slack:
        stack = Stack(aws_url, redis.url if redis else str(redis_url), slack.api_url, "bench",
                      {"TRAIL_AUDIT_REGIONS": ",".join(REGIONS), "TRAIL_AUDIT_ROLE_ARNS": roles,
                       "TRAIL_AUDIT_MONITOR_SECONDS": "3600", **(redis_env or {})})  # fmt: skip
        names = ["worker"] + [f"worker#{i}" for i in range(2, workers + 1)]
        stack.start(*names)
        try:
            conn = stack.redis()
            time.sleep(2)
            pids = [stack.procs[n].pid for n in names]
            before = sum(cpu_seconds(p) for p in pids)
            stop, seen = threading.Event(), [0]
            sampler = threading.Thread(target=peak_rss, args=(pids, stop, seen), daemon=True)
            sampler.start()
            audit = uuid.uuid4().hex
            request = {"id": audit, "kind": "audit", "channel": "C0BENCH", "user": "U0BENCH", "response_url": None,
                       "regions": [], "hours": None}  # fmt: skip
            t0 = time.monotonic()
            queue(conn).enqueue(paths.START_AUDIT, request, job_timeout=600)
            while json.loads(conn.get(keys.LAST_AUDIT) or "{}").get("id") != audit:
                time.sleep(0.1)
                if time.monotonic() - t0 > 1800:
                    raise SystemExit("bench: the audit did not finish in 30 minutes")
            wall = time.monotonic() - t0
            stop.set()
            cpu = sum(cpu_seconds(p) for p in pids) - before
            report = len(conn.get(keys.audit_report(audit)) or b"")
            memory = int(conn.info("memory")["used_memory"]) / 2**20
            return wall, cpu / (accounts * len(REGIONS)) * 1000, max(seen) / 1024, memory, report
        finally:
            stack.stop()
            if redis:
                redis.stop()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10, 100]
    with moto_server() as moto:
        os.environ.update(aws_env(moto.url))
        # BENCH_QUIET_HISTORY=1: LookupEvents (which moto lacks: 500, three attempts each) answered as CloudTrail
        # answers for a quiet account, an empty page
        with spawn(moto.url, 0.100, quiet_history=bool(os.environ.get("BENCH_QUIET_HISTORY"))) as url:
            table(sizes, url)


def table(sizes: list[int], url: str) -> None:
    """The measurements, one row per size and number of workers."""
    print("| accounts | workers | wall (s) | CPU per account-region (ms) | worker peak RSS (MiB) | "
          "Redis memory (MiB) | report (KiB) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for accounts in sizes:
        for workers in WORKERS:
            wall, cpu, rss, memory, report = run(accounts, workers, url)
            print(f"| {accounts} | {workers} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {memory:.1f} | "
                  f"{report / 1024:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
