"""The worker and clock processes (`python -m workers.queue worker|clock`), which outlive Redis restarts.

Both read `REDIS_URL` from the environment (never from the command line, where `ps` would show a password).
RQ's own loops quit on some Redis errors; here each is run again after a short backoff, with a fresh
connection, until it is asked to stop (SIGTERM or SIGINT), so a Redis blip never needs a supervisor.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workers.core import logs
from workers.core.settings import Settings, load
from workers.queue import paths
from workers.queue.queues import QUEUES
from workers.queue.schedule import periodic
from workers.state import clock_lease, metrics
from workers.state.connection import check_at_start, connection, ping

log = logging.getLogger("trail_audit.run")
BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)
USAGE = "usage: python -m workers.queue worker|clock"


class _Stop:
    requested = False


def keep_running(what: str, run_once: Callable[[], None], stop: Any = _Stop) -> None:
    """Run `run_once` again after every Redis failure (backing off), until `stop.requested`."""
    attempt = 0
    while not stop.requested:
        started = time.monotonic()
        try:
            run_once()
            if stop.requested:
                return
        except KeyboardInterrupt:
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning(f"{what}: Redis unreachable; reconnecting", extra={"error": type(exc).__name__})
        if stop.requested:
            return
        attempt = 0 if time.monotonic() - started > 30 else attempt + 1
        time.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])


def heartbeat_seconds(settings: Settings) -> int:
    """How often a busy worker says it is alive: at least three times within the watchdog's stale limit (a
    loaded host may be a second or two late), at most every 5 s."""
    return max(1, min(5, int(settings.watchdog_stale_seconds // 3)))


def worker(settings: Settings) -> None:
    """Serve the queues (urgent first) with a warm worker, reconnecting after Redis failures."""
    from workers.queue.worker import WarmWorker

    def once() -> None:
        conn = connection(settings)
        ping(conn)
        w = WarmWorker(list(QUEUES), connection=conn, job_monitoring_interval=heartbeat_seconds(settings),
                       job_class=paths.Job)  # fmt: skip
        w.work(with_scheduler=True)
        if w.stopping:  # SIGTERM or SIGINT: a warm shutdown
            _Stop.requested = True
            return
        raise RedisConnectionError("worker loop ended")  # RQ's loop quits on some Redis errors

    keep_running("worker", once)


def clock(settings: Settings) -> None:
    """Run the periodic work on time (see `schedule`) while this clock holds the lease (`clock_lease`);
    stand by while another does. Reconnects after Redis failures."""
    jobs = periodic(settings)
    funcs = [paths.function(job.path) for job in jobs]  # imported once, at start: a bad path fails here
    me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    lease = settings.clock_lease_seconds
    held = [False]

    def once() -> None:
        conn = connection(settings)
        ping(conn)
        due = [0.0] * len(jobs)  # a hint: when to ask Redis again whether a work is due
        while not _Stop.requested:
            _note(held, clock_lease.hold(conn, me, lease), me)
            for i, job in enumerate(jobs):
                if held[0] and time.monotonic() >= due[i]:
                    wait = clock_lease.claim_run(conn, me, job.path, job.every)
                    due[i] = time.monotonic() + (wait if wait > 0 else job.every if wait == 0 else 0)
                    if wait == 0:
                        run_one(funcs[i], settings, conn)  # settings read once, one connection
                        metrics.flush(conn)
            nap = min(min(due) - time.monotonic(), 0.5) if held[0] else 0.5  # a standby asks twice a second
            time.sleep(max(0.05, min(nap, lease / 3)))
        clock_lease.release(conn, me)

    def ask_stop(signum: int, frame: Any) -> None:
        _Stop.requested = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    keep_running("clock", once)


def _note(held: list[bool], now_held: bool, me: str) -> None:
    """Log when this clock takes the schedule over or loses it."""
    if now_held != held[0]:
        log.info("clock: running the schedule" if now_held else "clock: standing by", extra={"clock": me})
    held[0] = now_held


def run_one(func: Callable[..., Any], settings: Settings, conn: Redis) -> None:
    """One periodic run; Redis failures go up (to reconnect), anything else is logged and the clock goes on."""
    try:
        func(settings, conn)
    except (RedisConnectionError, RedisTimeoutError):
        raise
    except Exception:
        log.exception("periodic work failed", extra={"work": f"{func.__module__}.{func.__name__}"})


def main(argv: list[str] | None = None) -> int:
    """`worker` or `clock`."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["worker"], ["clock"]):
        print(USAGE, file=sys.stderr)
        return 2
    logs.setup()
    settings = load()
    check_at_start(settings)
    (worker if args[0] == "worker" else clock)(settings)
    return 0
