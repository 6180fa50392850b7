"""Audit engine benchmark: one account, up to 17 regions, a moto server 100 ms away.

Measures wall time, AWS calls and peak memory, and how wall time grows with regions (1, 4, 17) and
trails (1, 5, 20). The target: 17 regions take no more than 1.5 times one region (regions in parallel).
Run: `make bench` (or .venv/bin/python bench/audit_bench.py); it prints a Markdown table.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.latency_proxy import spawn
from demo.fake_account import compliant
from demo.servers import aws_env, moto_server
from workers.audit.engine import run_audit
from workers.aws import accounts
from workers.core.settings import Settings

REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "sa-east-1",
]  # fmt: skip
DELAY = 0.100
RUNS = 3


def seed(trails: int) -> None:
    acct = compliant(REGIONS)
    for i in range(1, trails):
        acct.trail(f"app-{i:02d}", multi_region=False, logging=i % 2 == 0)


def measure(regions: list[str], repeat: int = RUNS) -> tuple[float, int, float]:
    """Median wall seconds and AWS calls of one audit (untraced runs), then peak traced MiB (one traced run)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    walls, calls = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run_audit(settings, regions=regions)
        walls.append(time.perf_counter() - t0)
        calls = sum(result.aws_calls.values())
        assert result.findings, "an audit with no findings measures nothing"
    tracemalloc.start()
    run_audit(settings, regions=regions)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(walls), calls, peak


def main() -> None:
    rows: list[tuple[int, int, float, int, float]] = []
    colds: list[tuple[int, float]] = []
    with moto_server() as moto:
        os.environ.update(aws_env(moto.url))
        with spawn(moto.url, DELAY) as slow_url:
            for trails in (1, 5, 20):
                moto.reset()
                os.environ["AWS_ENDPOINT_URL"] = moto.url
                seed(trails)
                os.environ["AWS_ENDPOINT_URL"] = slow_url
                accounts.reset_base_session()  # clients are kept per process: make them anew for this endpoint
                cold = measure(REGIONS, repeat=1)[0]  # the process's first audit: clients made, identity read
                for n in (1, 4, 17) if trails == 1 else (17,):
                    wall, calls, peak = measure(REGIONS[:n])
                    rows.append((n, trails, wall, calls, peak))
                    print(f"regions={n} trails={trails} wall={wall:.3f}s calls={calls}", file=sys.stderr)
                colds.append((trails, cold))
    one_region = rows[0][2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nAWS latency added: {DELAY * 1000:.0f} ms a call; median of {RUNS} runs; 2-core machine.\n")
    print("| regions | trails | wall time (s) | x one region | AWS calls | peak traced memory (MiB) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, trails, wall, calls, peak in rows:
        print(f"| {n} | {trails} | {wall:.3f} | {wall / one_region:.2f} | {calls} | {peak:.1f} |")
    for trails, cold in colds:
        print(
            f"\nFirst audit in a fresh process (17 regions, {trails} trails; clients made, identity read): "
            f"{cold:.3f} s.",
            end="",
        )
    print()
    print(
        f"\nChain of calls for one region (1 region, 1 trail): {one_region:.3f} s "
        f"(about {one_region / DELAY:.1f} sequential calls of {DELAY * 1000:.0f} ms)."
    )
    ratio = rows[2][2] / one_region
    print(f"17 regions / 1 region: {ratio:.2f} (target at most 1.5). Process max RSS: {rss:.0f} MiB.")


if __name__ == "__main__":
    main()
