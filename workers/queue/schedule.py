"""The periodic work the clock process runs (`python -m workers.queue clock`, the Procfile's `clock`).

Each is small (Redis reads, and enqueueing the real work: a re-enable, a delivery, a watch job), so the
clock runs them itself instead of queueing them: a worker forks a work horse per job, and a queue of
sweeps every second would keep one worker busy. Intervals are settings, so tests and the demo run fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.core.settings import Settings
from workers.queue import watchdog


@dataclass(frozen=True)
class Periodic:
    """Work the clock runs every `every` seconds."""

    func: Callable[..., Any]
    every: float


def periodic(settings: Settings) -> list[Periodic]:
    """What the clock runs, and how often."""
    from workers.monitor import watch
    from workers.remediation import jobs as remediation
    from workers.slack import home, outbox

    return [
        Periodic(watchdog.sweep, settings.sweep_seconds),
        Periodic(remediation.sweep_due, settings.sweep_seconds),
        Periodic(outbox.sweep, settings.sweep_seconds / 2),
        Periodic(watch.cycle, settings.monitor_seconds),
        Periodic(home.refresh, settings.sweep_seconds),
    ]
