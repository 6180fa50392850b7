"""Named points where a fault test makes this process die as a crashing machine would: SIGKILL to the RQ
worker and to its work horse (which RQ starts in a session of its own), at most once per marker file.

Inert unless `TRAIL_AUDIT_FAILPOINT` is set, to `name` or `name@/path/to/marker` (the marker makes it once).
The end-to-end tests use it to kill a worker at each step of an execution and a re-enable.
"""

from __future__ import annotations

import os
import signal

ENV = "TRAIL_AUDIT_FAILPOINT"


def hit(name: str) -> None:
    """Die here if a test asked for it."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, marker = spec.partition("@")
    if point != name:
        return
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getppid(), signal.SIGKILL)  # the RQ worker that forked this work horse (its own session)
    os.killpg(os.getpgid(0), signal.SIGKILL)
