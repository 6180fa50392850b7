"""The periodic jobs the clock process enqueues (`python -m workers.queue clock`, the Procfile's `clock`).

Intervals are settings, so tests and the demo run them fast. Every periodic job is small; the urgent ones
(deadlines, the outbox, the watchdog) go on the urgent queue, which every worker serves first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.core.settings import Settings
from workers.queue import watchdog
from workers.queue.queues import MONITOR, URGENT


@dataclass(frozen=True)
class Periodic:
    """A job the clock enqueues every `every` seconds."""

    func: Callable[..., Any]
    queue: str
    every: int
    timeout: int


def periodic(settings: Settings) -> list[Periodic]:
    """What the clock runs, and how often."""
    from workers.monitor import watch
    from workers.remediation import jobs as remediation
    from workers.slack import outbox

    return [
        Periodic(watchdog.sweep, URGENT, settings.sweep_seconds, 30),
        Periodic(remediation.sweep_due, URGENT, settings.sweep_seconds, 60),
        Periodic(outbox.sweep, URGENT, max(1, settings.sweep_seconds // 2), 30),
        Periodic(watch.cycle, MONITOR, settings.monitor_seconds, 60),
    ]
