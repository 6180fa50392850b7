"""Waiting in tests for something another process does."""

from __future__ import annotations

import time
from typing import Any


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    """Poll `check()` every 0.1 s until it returns something truthy (returned), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s")
