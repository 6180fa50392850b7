"""The periodic work the clock process runs (`python -m workers.queue clock`, the Procfile's `clock`).

Each is small (Redis reads, and enqueueing the real work: a re-enable, a delivery, a watch job), so the
clock runs them itself instead of queueing them: a worker forks a work horse per job, and a queue of
sweeps every second would keep one worker busy. Intervals are settings, so tests and the demo run fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.core.settings import Settings
from workers.queue import paths


@dataclass(frozen=True)
class Periodic:
    """Work the clock runs every `every` seconds."""

    path: str  # the work's dotted path (see `paths`)
    every: float


def periodic(settings: Settings) -> list[Periodic]:
    """What the clock runs, and how often."""
    return [
        Periodic(paths.WATCHDOG, settings.sweep_seconds),
        Periodic(paths.SWEEP_DUE, settings.sweep_seconds),
        Periodic(paths.OUTBOX_SWEEP, settings.sweep_seconds / 2),
        Periodic(paths.MONITOR_CYCLE, settings.monitor_seconds),
        Periodic(paths.HOME_REFRESH, settings.sweep_seconds),
        Periodic(paths.QUEUE_DEPTH, 60.0),
        Periodic(paths.FUNCTION_STEPS, settings.sweep_seconds),
        Periodic(paths.REPORT_SCHEDULE, min(settings.sweep_seconds, 5.0)),
    ]
