"""Redis as production runs it: the cost of TLS to an audit, and the time to recover from a failover.

`tls [ACCOUNTS]`: the Slack audit of ACCOUNTS (default 10) x 17 regions on 1, 2 and 4 workers (as
`bench/org_bench.py` runs it: moto behind a proxy adding 100 ms a call), against a plain redis-server and then
one speaking only TLS with an ACL user (certificates made here); wall time, worker CPU per account-region and
redis-server's CPU per audit.

`failover [DOWN_AFTER_MS ...]` (default 1000 5000): a primary, two replicas and one Sentinel with that
`down-after-milliseconds`; a client made by the connection factory (through Sentinel, waiting for one replica)
creates a request every 20 ms; the primary is killed; measured: the time from the kill to the next write that
is acknowledged, and whether every write acknowledged before the kill is on the new primary. Three runs each.

Run: `.venv/bin/python bench/redis_bench.py tls 10` or `... failover`; prints Markdown tables.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.latency_proxy import spawn
from bench.org_bench import run
from demo.redis_servers import ACL_PASSWORD, ACL_USER, Servers
from demo.servers import aws_env, moto_server, start_redis
from workers.core.settings import Settings
from workers.state import keys, machine
from workers.state.connection import connection

TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> float:
    """A process's CPU seconds so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def tls(accounts: int) -> None:
    """The audit on 1, 2 and 4 workers against a plain redis-server, then a TLS one with an ACL user."""
    print("| Redis | workers | wall (s) | worker CPU per account-region (ms) | redis-server CPU per audit (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with moto_server() as moto:
        os.environ.update(aws_env(moto.url))
        with spawn(moto.url, 0.100, quiet_history=True) as url:
            for kind in ("plain", "TLS + ACL user"):
                servers = Servers()
                try:
                    if kind == "plain":
                        plain = start_redis()
                        redis_url, env, pid = plain.url, {}, plain.process.pid
                    else:
                        port, ca = servers.tls()
                        redis_url = f"rediss://{ACL_USER}:{ACL_PASSWORD}@localhost:{port}/0"
                        env, pid = {"REDIS_TLS_CA_FILE": str(ca)}, servers.processes[port].pid
                    for workers in (1, 2, 4):
                        before = cpu(pid)
                        wall, per, _, _, _ = run(accounts, workers, url, redis_url, env)
                        print(f"| {kind} | {workers} | {wall:.1f} | {per:.1f} | {cpu(pid) - before:.2f} |", flush=True)
                finally:
                    if kind == "plain":
                        plain.stop()
                    servers.stop()


def failover_once(down_after_ms: int) -> tuple[float, bool]:
    """One failover: seconds from the kill to the next acknowledged write, and whether every earlier one is kept."""
    servers = Servers()
    try:
        primary = servers.plain()
        replicas = [servers.replica_of(primary) for _ in range(2)]
        sentinel = servers.sentinel("trail-audit", primary, down_after_ms)
        conn = connection(Settings(_env_file=None, REDIS_URL="redis://via-sentinel/0",  # type: ignore[call-arg]
                                   REDIS_SENTINELS=f"127.0.0.1:{sentinel}", REDIS_WAIT_REPLICAS=1))  # fmt: skip
        acknowledged: list[str] = []

        def write(n: int) -> bool:
            try:
                machine.create_request(conn, f"f-{n}", "{}")
            except RedisConnectionError:
                return False
            acknowledged.append(f"f-{n}")
            return True

        for n in range(50):
            write(n)
            time.sleep(0.02)
        servers.kill(primary)
        t0 = time.monotonic()
        n = 50
        while not write(n):
            n += 1
            time.sleep(0.02)
            if time.monotonic() - t0 > 120:
                raise SystemExit("bench: no write acknowledged within 120 s of the kill")
        back = time.monotonic() - t0
        promoted = Redis(port=int(conn.connection_pool.get_master_address()[1]))
        assert promoted.connection_pool.connection_kwargs["port"] in replicas
        kept = all(promoted.exists(keys.request(rid)) for rid in acknowledged)
        return back, kept
    finally:
        servers.stop()


def failover(downs: list[int]) -> None:
    """Three failovers per Sentinel down-after setting, as a Markdown table."""
    print("| Sentinel down-after (ms) | run | kill to next acknowledged write (s) | every acknowledged write kept |")
    print("| ---: | ---: | ---: | --- |")
    for down in downs:
        for attempt in range(1, 4):
            seconds, kept = failover_once(down)
            print(f"| {down} | {attempt} | {seconds:.2f} | {'yes' if kept else 'NO'} |", flush=True)


def main() -> None:
    """`tls [ACCOUNTS]` or `failover [DOWN_AFTER_MS ...]`."""
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "tls":
        tls(int(sys.argv[2]) if len(sys.argv) > 2 else 10)
    elif what == "failover":
        failover([int(a) for a in sys.argv[2:]] or [1000, 5000])
    else:
        print("usage: bench/redis_bench.py tls [ACCOUNTS] | failover [DOWN_AFTER_MS ...]", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
