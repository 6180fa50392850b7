"""Old dotted path of the failure callback (`workers.failures.report`), kept for jobs queued before the move."""

from workers.queue.failures import report

__all__ = ["report"]
