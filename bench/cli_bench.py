"""The CLI as a user runs it: `trail-audit audit --format json` as a whole process, under `/usr/bin/time -v`.

One moto account (`demo.fake_account.compliant` in the home region: a multi-region trail with the CIS alarm
chain, a Config recorder), no added latency; 1 region, 2 regions and every region moto offers. The moto server
is warmed by one untimed run first (its first request to a region builds that region's backends, which real
AWS does not do). Reports the median wall time, user and system CPU and the peak RSS of 5 runs.
Target (issue 11): every region in at most 1.2 s. Run: `.venv/bin/python bench/cli_bench.py`.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.fake_account import compliant
from demo.servers import aws_env, clean_env, moto_server

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9
CASES = [("1 region", ["--regions", "us-east-1"]), ("2 regions", ["--regions", "us-east-1,eu-west-1"]),
         ("every region", [])]  # fmt: skip


def timed(env: dict[str, str], args: list[str]) -> tuple[float, float, float, float, int]:
    """One whole-process run: wall, user and system seconds, peak RSS (MiB), regions audited."""
    command = ["/usr/bin/time", "-v", str(ROOT / ".venv/bin/trail-audit"), "audit", "--format", "json", *args]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    stats = proc.stderr

    def field(name: str) -> str:
        found = re.search(rf"{re.escape(name)}: (.+)", stats)
        assert found, f"/usr/bin/time -v did not report {name}: {stats[-500:]}"
        return found.group(1).strip()

    clock = [float(x) for x in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = clock[-1] + 60 * clock[-2] + (3600 * clock[-3] if len(clock) > 2 else 0)
    regions = len(json.loads(proc.stdout)["summary"]["regions"])
    return (wall, float(field("User time (seconds)")), float(field("System time (seconds)")),
            int(field("Maximum resident set size (kbytes)")) / 1024, regions)  # fmt: skip


def main() -> None:
    with moto_server() as moto:
        env = {**clean_env(), **aws_env(moto.url), "PATH": os.environ["PATH"]}
        os.environ.update(aws_env(moto.url))
        compliant(["us-east-1"])
        print(f"`trail-audit audit --format json`, whole process, median of {RUNS} runs; moto server, 2 cores.\n")
        print("| regions | audited | wall (s) | user CPU (s) | system CPU (s) | peak RSS (MiB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, args in CASES:
            timed(env, args)  # moto builds the region backends on first use
            runs = [timed(env, args) for _ in range(RUNS)]
            med = [statistics.median(r[i] for r in runs) for i in range(4)]
            print(f"| {name} | {runs[0][4]} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} | {med[3]:.0f} |")


if __name__ == "__main__":
    main()
