"""Monitor at scale: N accounts x 17 regions watched every interval by the Procfile's workers and clock.

moto (one server, or `BENCH_MOTO_SERVERS`; each account reached by sts:AssumeRole, each given a multi-region
trail with its bucket, log group and CIS alarm chain, and a recorder and delivery channel in all 17 regions), a
real redis-server,
the Slack stand-in, and only `worker` (1 or 2) and `clock` processes. The workers reach moto through
`bench.latency_proxy` with no delay: it keeps their connections alive as AWS does (moto closes each one) and
answers `LookupEvents`, which moto lacks, as CloudTrail does for a quiet account (no events). After every
account's first look (the baseline), the script waits for the next cycle to begin and measures over `CYCLES`
intervals:

- CPU per cycle of the workers, the clock, redis-server and moto, each from /proc (the worker's per account);
- AWS calls per account per cycle (every account's cycle summary, `calls`, collected as it is written);
- coverage: at each cycle's start, the accounts whose previous job had not started (`behind`, from the
  clock's pace record) and the monitor queue's length, and the oldest look of any account over the run;
- the peak RSS of any worker process.

`BENCH_PUSHED=off,on` (the default: both) runs with the pushed event path unset, then configured (healthy:
nothing says it broken, so quiet regions are polled every other cycle and `LookupEvents` is left to what
needs attributing). Setting up 1,000 accounts takes a long while of moto's time.

`BENCH_MOTO_SERVERS=2` spreads the accounts over two moto servers (through the proxy), so that moto, which
serves every call of one process on one core, is not what the run measures (AWS serves accounts in parallel).
The same two cores are shared by everything either way.

Run: `.venv/bin/python bench/monitor_scale.py ACCOUNTS INTERVAL [WORKERS ...]` (e.g. `200 60 1 2`); prints a
Markdown row per path and worker count.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from redis import Redis as RedisClient

from bench.audit_bench import REGIONS
from bench.latency_proxy import spawn
from demo.fake_account import CIS_PATTERN, CONFIG_ROLE, LOG_GROUP, TOPIC, cloudtrail_bucket_policy
from demo.servers import aws_env, moto_server, start_redis
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from workers.queue.queues import MONITOR, queue
from workers.state import monitor_records

CYCLES = int(os.environ.get("BENCH_CYCLES", "3"))
SHARDS = int(os.environ.get("BENCH_MOTO_SERVERS", "1"))  # moto servers the accounts are spread over (one core each)
HOME = "us-east-1"
TICK = os.sysconf("SC_CLK_TCK")


def role(n: int) -> str:
    """The role the monitor assumes in the n-th account."""
    return f"arn:aws:iam::{200000000000 + n}:role/TrailAudit"


class _As:
    """Clients of the process's default session signed as an assumed role (a boto3 Session per account would
    parse every service model again: most of the set-up's time)."""

    def __init__(self, creds: dict[str, Any]) -> None:
        self.keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                     "aws_session_token": creds["SessionToken"]}  # fmt: skip

    def client(self, service: str, region_name: str) -> Any:
        """A client of `service` in `region_name` with the role's credentials."""
        return boto3.client(service, region_name=region_name, **self.keys)  # type: ignore[call-overload]


def make_account(n: int) -> None:
    """One watched account in moto: its trail with bucket, log group and alarm chain; Config everywhere."""
    creds = boto3.client("sts", region_name=HOME).assume_role(RoleArn=role(n), RoleSessionName="setup")["Credentials"]
    session = _As(creds)
    account = role(n).split(":")[4]
    bucket = f"trail-logs-{account}"
    s3 = session.client("s3", region_name=HOME)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(cloudtrail_bucket_policy(bucket, account)))
    logs = session.client("logs", region_name=HOME)
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.put_metric_filter(logGroupName=LOG_GROUP, filterName="cloudtrail-config-changes", filterPattern=CIS_PATTERN,
                           metricTransformations=[{"metricName": "CloudTrailConfigChanges",
                                                   "metricNamespace": "CISBenchmark", "metricValue": "1"}])  # fmt: skip
    topic = session.client("sns", region_name=HOME).create_topic(Name=TOPIC)["TopicArn"]
    session.client("sns", region_name=HOME).subscribe(TopicArn=topic, Protocol="sqs",
                                                      Endpoint=f"arn:aws:sqs:{HOME}:{account}:oncall")  # fmt: skip
    session.client("cloudwatch", region_name=HOME).put_metric_alarm(
        AlarmName="cloudtrail-config-changes", MetricName="CloudTrailConfigChanges", Namespace="CISBenchmark",
        Statistic="Sum", Period=300, EvaluationPeriods=1, Threshold=1, AlarmActions=[topic],
        ComparisonOperator="GreaterThanOrEqualToThreshold")  # fmt: skip
    ct = session.client("cloudtrail", region_name=HOME)
    arn = ct.create_trail(Name="management", S3BucketName=bucket, IsMultiRegionTrail=True,
                          EnableLogFileValidation=True,
                          CloudWatchLogsLogGroupArn=f"arn:aws:logs:{HOME}:{account}:log-group:{LOG_GROUP}:*",
                          CloudWatchLogsRoleArn=f"arn:aws:iam::{account}:role/cloudtrail-to-cloudwatch")["TrailARN"]
    ct.start_logging(Name=arn)
    for region in REGIONS:
        cfg = session.client("config", region_name=region)
        cfg.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": CONFIG_ROLE,
                                       "recordingGroup": {"allSupported": True}})  # fmt: skip
        cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket})
        cfg.start_configuration_recorder(ConfigurationRecorderName="default")


def _make_accounts(numbers: range) -> None:
    """A batch of accounts, made on 8 threads (in a process of the set-up's pool)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make_account, numbers))


def process_cpu(pid: int) -> float:
    """A process's CPU and its reaped children's, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def cpu_seconds(pid: int) -> float:
    """The CPU of a process's session, in seconds: every live process in it (a worker's RQ scheduler too)
    and the children it reaped (its work horses)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == pid:  # its session
            total += sum(int(x) for x in fields[11:13]) + (sum(int(x) for x in fields[13:15]) if
                                                           stat.parent.name == str(pid) else 0)  # fmt: skip
    return total / TICK


def rss_mib(pid: int) -> float:
    """A process's resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _collect(conn: RedisClient, stop: threading.Event, seen: dict[tuple[str, float], int], pids: list[int],
             rss: list[float]) -> None:  # fmt: skip
    """Every account's cycle summaries as they are written, and the workers' RSS, until `stop`."""
    while not stop.is_set():
        for summary in monitor_records.cycles(conn).values():
            seen[(summary["account"], summary["at"])] = int(summary.get("calls", 0))
        rss.append(max(rss_mib(p) for p in pids))
        stop.wait(1.0)


def _cycle_starts(conn: RedisClient, after: float, count: int, interval: int) -> list[dict[str, Any]]:
    """The clock's pace records of the next `count` cycles begun after `after` (with the queue's length)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        paced = monitor_records.coverage(conn) or {}
        if float(paced.get("at", 0)) > after:
            out.append(paced | {"queued": len(queue(conn, MONITOR))})
            after = float(paced["at"])
        time.sleep(0.2)
    return out


def _cpu(pids: dict[str, int], redis_pid: int, moto_pids: list[int]) -> dict[str, float]:
    """The CPU so far of each process's session, of redis-server and of every moto server."""
    return {n: cpu_seconds(p) for n, p in pids.items()} | {"redis": process_cpu(redis_pid),
                                                            "moto": sum(map(process_cpu, moto_pids))}  # fmt: skip


def run(
    accounts: int, interval: int, workers: int, aws_url: str, moto_pids: list[int], pushed: bool
) -> dict[str, Any]:
    """One measurement; returns its numbers."""
    redis = start_redis()
    env = {"TRAIL_AUDIT_REGIONS": ",".join(REGIONS), "TRAIL_AUDIT_ROLE_ARNS": ",".join(map(role, range(accounts))),
           "TRAIL_AUDIT_MONITOR_SECONDS": str(interval), "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS"}  # fmt: skip
    if pushed:
        env["TRAIL_AUDIT_EVENTS_QUEUE_URL"] = f"{aws_url}/000000000000/trail-audit-events"
    with SlackStandIn() as slack:
        stack = Stack(aws_url, redis.url, slack.api_url, "bench", env)
        names = ["worker"] + [f"worker#{i}" for i in range(2, workers + 1)]
        stack.start(*names, "clock")
        conn = RedisClient.from_url(redis.url)
        try:
            while len(monitor_records.cycles(conn)) < accounts:  # every account's baseline
                time.sleep(1)
            first = _cycle_starts(conn, time.time(), 1, interval)[0]
            pids = {n: stack.procs[n].pid for n in [*names, "clock"]}
            cpu0 = _cpu(pids, redis.process.pid, moto_pids)
            stop, seen, rss = threading.Event(), {}, []  # type: ignore[var-annotated]
            collector = threading.Thread(target=_collect, args=(conn, stop, seen, [pids[n] for n in names], rss))
            collector.start()
            starts = _cycle_starts(conn, float(first["at"]), CYCLES, interval)
            cpu1 = _cpu(pids, redis.process.pid, moto_pids)
            oldest = max(time.time() - float(s["at"]) for s in monitor_records.cycles(conn).values())
            stop.set()
            collector.join()
        finally:
            stack.stop()
            redis.stop()
    window = [c for (_, at), c in seen.items() if float(first["at"]) <= at < float(starts[-1]["at"])]
    worker_cpu = sum(cpu1[n] - cpu0[n] for n in names)
    return {"accounts": accounts, "interval": interval, "workers": workers, "pushed": bool(env.get(
        "TRAIL_AUDIT_EVENTS_QUEUE_URL")), "behind": [s.get("behind", 0) for s in starts],
        "queued": [s["queued"] for s in starts], "oldest": oldest,
        "worker_cpu": worker_cpu / (CYCLES * accounts), "clock_cpu": (cpu1["clock"] - cpu0["clock"]) / CYCLES,
        "redis_cpu": (cpu1["redis"] - cpu0["redis"]) / CYCLES, "moto_cpu": (cpu1["moto"] - cpu0["moto"]) / CYCLES,
        "calls": sum(window) / max(1, len(window)), "looks": len(window), "rss": max(rss or [0.0])}  # fmt: skip


def main() -> None:
    accounts, interval = int(sys.argv[1]), int(sys.argv[2])
    counts = [int(w) for w in sys.argv[3:]] or [1, 2]
    with contextlib.ExitStack() as servers:
        motos = [servers.enter_context(moto_server("bench.moto_frozen")) for _ in range(SHARDS)]
        front = servers.enter_context(spawn(",".join(m.url for m in motos), 0.0, quiet_history=True))
        os.environ.update(aws_env(front))  # the set-up too: the proxy learns which server has which account
        t0 = time.monotonic()
        with ProcessPoolExecutor(4) as pool:  # the set-up's clients are CPU-bound: processes, not threads
            list(pool.map(_make_accounts, [range(i, min(i + 25, accounts)) for i in range(0, accounts, 25)]))
        print(f"set up {accounts} accounts in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        for m in motos:  # what was set up is kept out of moto's garbage collections (bench/moto_frozen.py)
            m.process.send_signal(signal.SIGUSR1)
        print("| accounts | interval (s) | workers | pushed path | behind at each cycle | queued | oldest look (s) | "
              "worker CPU per account per cycle (s) | clock, redis, moto CPU per cycle (s) | AWS calls per account "
              "per cycle | worker peak RSS (MiB) |")  # fmt: skip
        print("| ---: | ---: | ---: | --- | --- | --- | ---: | ---: | --- | ---: | ---: |")
        for pushed, workers in [(p == "on", w) for p in os.environ.get("BENCH_PUSHED", "off,on").split(",")
                                for w in counts]:  # fmt: skip
            r = run(accounts, interval, workers, front, [m.process.pid for m in motos], pushed)
            print(f"| {r['accounts']} | {r['interval']} | {r['workers']} | {'on' if r['pushed'] else 'off'} | "
                  f"{r['behind']} | {r['queued']} | {r['oldest']:.0f} | {r['worker_cpu']:.3f} | "
                  f"{r['clock_cpu']:.2f}, {r['redis_cpu']:.2f}, {r['moto_cpu']:.1f} | {r['calls']:.1f} | "
                  f"{r['rss']:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
