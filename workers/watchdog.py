"""Old dotted path of the watchdog job (`workers.watchdog.sweep`), kept for jobs queued before the move."""

from workers.queue.watchdog import sweep

__all__ = ["sweep"]
