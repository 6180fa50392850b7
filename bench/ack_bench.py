"""Slack-side benchmark: ack latency of signed slash commands, and command-to-report time.

1. 500 signed `/trail-audit` commands, 25 at a time, against the web process as the Procfile starts it
   (`python -m bot` -> gunicorn), each enqueueing an audit on a real redis-server: p50/p95/p99/max.
   Target: p99 under 100 ms on a 2-core machine.
2. The time from a signed command to the finished report in the Slack stand-in, for 17 regions with 100 ms
   added to every AWS call (a latency proxy in its own process), with the Procfile's worker and clock,
   against the audit engine's own wall time for the same account. Target: at most 2 times.

Run: `.venv/bin/python bench/ack_bench.py [workers]` (default 1 worker process); prints Markdown.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis as RedisClient

from bench.audit_bench import REGIONS
from bench.latency_proxy import spawn
from demo.fake_account import demo_account
from demo.servers import aws_env, moto_server, start_redis
from demo.signing import post, slash_body
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from workers.audit.engine import run_audit
from workers.aws import accounts
from workers.core.settings import Settings

SECRET = "bench-secret"
COMMANDS, CONCURRENCY = 500, 25


def ack_latencies(url: str) -> list[float]:
    """Send COMMANDS signed commands, CONCURRENCY at a time; each one's seconds to the HTTP answer."""
    body = slash_body("audit us-east-1")

    def one(_: int) -> float:
        t0 = time.perf_counter()
        status, _text = post(url + "/slack/events", body, SECRET)
        assert status == 200, status
        return time.perf_counter() - t0

    for _ in range(20):  # warm the web processes' threads and Redis connections
        one(0)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, range(COMMANDS)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def command_to_report(stack: Stack, slack: SlackStandIn) -> float:
    """Seconds from a signed `/trail-audit` to the report replacing the progress message."""
    before = len(slack.calls)
    t0 = time.perf_counter()
    assert post(stack.url + "/slack/events", slash_body(""), SECRET)[0] == 200
    while True:
        done = [c for c in slack.calls[before:] if c.method == "chat.update" and "auditing" not in c.params["text"]]
        if done:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > 300:
            raise TimeoutError("no report within 300 s")
        time.sleep(0.02)


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    with moto_server() as moto, SlackStandIn() as slack:
        os.environ.update(aws_env(moto.url))
        redis = start_redis()
        try:
            web = Stack(moto.url, redis.url, slack.api_url, SECRET, {"WEB_CONCURRENCY": "2"}).start("web")
            try:
                lat = ack_latencies(web.url)
            finally:
                web.stop()
            demo_account(REGIONS)
            with spawn(moto.url, 0.100) as slow:
                os.environ["AWS_ENDPOINT_URL"] = slow
                accounts.reset_base_session()
                settings = Settings(_env_file=None)  # type: ignore[call-arg]
                engine = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    run_audit(settings, regions=REGIONS)
                    engine.append(time.perf_counter() - t0)
                stack = Stack(slow, redis.url, slack.api_url, SECRET, {"TRAIL_AUDIT_REGIONS": ",".join(REGIONS)})
                RedisClient.from_url(redis.url).flushall()  # the commands of part 1 are not part 2's work
                stack.start("web", "clock", *(f"worker#{i}" for i in range(workers)))
                try:
                    first = command_to_report(stack, slack)  # the first audit after the workers started
                    e2e = [command_to_report(stack, slack) for _ in range(3)]
                finally:
                    stack.stop()
        finally:
            redis.stop()
    ms = [x * 1000 for x in lat]
    print(f"\n{COMMANDS} signed commands, {CONCURRENCY} at a time, web process as the Procfile starts it:\n")
    print("| p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | commands/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    rate = COMMANDS / (sum(lat) / CONCURRENCY)
    print(f"| {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} | {rate:.0f} |")
    eng, full = statistics.median(engine[1:]), statistics.median(e2e)
    print(f"\n17 regions, 100 ms per AWS call, {workers} worker process(es):\n")
    print("| audit engine in-process, warm (s) | command to report (s), median of 3 | ratio |")
    print("| ---: | ---: | ---: |")
    print(f"| {eng:.3f} | {full:.3f} | {full / eng:.2f} |")
    print(
        f"\nruns: engine {[round(x, 3) for x in engine]} (the first one cold), command to report "
        f"{[round(x, 3) for x in e2e]} after a first one of {first:.3f}"
    )


if __name__ == "__main__":
    main()
