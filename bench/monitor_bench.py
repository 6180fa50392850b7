"""Monitor benchmark: from a tampering call to its alert in the Slack stand-in, and one cycle's AWS calls.

The full stack as the Procfile starts it (web, one worker, the cron scheduler), a real redis-server, the
Slack stand-in, and a moto server behind a proxy that adds 100 ms to every AWS call. The account is
`demo.fake_account.compliant` over 1 or 17 regions. Each run stops the Config recorder of a region (a
different one each time) and times until the alert is posted; the recorder is then restarted and the
recovery awaited, so every run starts from a clean state. Target: at most the interval plus 10 seconds.

Run: `.venv/bin/python bench/monitor_bench.py [interval_seconds] [runs]` (default 60 and 3); prints Markdown.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis as RedisClient

from bench.audit_bench import REGIONS
from bench.latency_proxy import spawn
from demo.fake_account import FakeAccount, compliant
from demo.servers import aws_env, moto_server, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from workers.state import monitor_records

ALERTS = "C0ALERTS"


def wait(check: object, timeout: float, step: float = 0.05) -> object:
    """Poll `check()` every `step` seconds until it is truthy (its value), or raise after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(step)
    raise TimeoutError("waited too long")


def said(slack: SlackStandIn, since: int, text: str) -> bool:
    """Whether the bot posted `text` after the first `since` calls."""
    return any(text in c.params.get("text", "") for c in slack.calls[since:])


def measure(regions: list[str], interval: int, runs: int) -> tuple[list[float], list[dict[str, object]]]:
    """Tamper-to-alert seconds for each run, and the monitor's cycle summaries seen."""
    with moto_server() as moto, SlackStandIn() as slack, spawn(moto.url, 0.100) as slow:
        os.environ.update(aws_env(moto.url))
        compliant(regions)
        redis = start_redis()
        settings = {"TRAIL_AUDIT_REGIONS": ",".join(regions), "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS,
                    "TRAIL_AUDIT_MONITOR_SECONDS": str(interval)}  # fmt: skip
        stack = Stack(slow, redis.url, slack.api_url, "bench", settings).start()
        conn = RedisClient.from_url(redis.url)
        cycles: list[dict[str, object]] = []
        times = []
        try:
            wait(lambda: monitor_records.last_cycle(conn), interval + 60)
            for i in range(runs):
                region = regions[(i * 5) % len(regions)]
                cfg = FakeAccount().client("config", region)
                seen = len(slack.calls)
                t0 = time.monotonic()
                cfg.stop_configuration_recorder(ConfigurationRecorderName="default")
                wait(lambda seen=seen: said(slack, seen, "stopped recording"), interval * 2 + 60)
                times.append(time.monotonic() - t0)
                cycles.append(monitor_records.last_cycle(conn) or {})
                print(f"regions={len(regions)} run={i} tamper-to-alert={times[-1]:.1f}s", file=sys.stderr)
                cfg.start_configuration_recorder(ConfigurationRecorderName="default")
                wait(lambda seen=seen: said(slack, seen, "Recovered"), interval * 2 + 60)
        finally:
            stack.stop()
            redis.stop()
    return times, cycles


def main() -> None:
    interval = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rows = []
    for regions in (REGIONS[:1], REGIONS):
        times, cycles = measure(regions, interval, runs)
        calls = statistics.median(int(c["calls"]) for c in cycles)  # type: ignore[call-overload]
        seconds = statistics.median(float(c["seconds"]) for c in cycles)  # type: ignore[arg-type]
        rows.append((len(regions), times, calls, seconds))
    print(f"\nInterval {interval} s; 100 ms added to every AWS call; {runs} tampers each (recorder stopped).\n")
    print("| regions | tamper to alert, each run (s) | max (s) | target (s) | AWS calls a cycle | cycle time (s) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for n, times, calls, seconds in rows:
        runs_text = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {n} | {runs_text} | {max(times):.1f} | {interval + 10} | {calls:.0f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
