"""Waiting in tests for something another process does."""

from __future__ import annotations

import time
from typing import Any


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    """Poll `check()` until it returns something truthy (returned), or fail after `timeout`: at once, then every
    0.05 s growing to 0.5 s (a long wait polls the processes under test less, leaving them the CPU)."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(pause)
        pause = min(0.5, pause * 1.5)
    raise AssertionError(f"timed out after {timeout:.0f}s")
