"""The monitor: observe, drift, alerts, attribution.

`workers.monitor.cycle` and `workers.monitor.watch_account` were the monitor's job paths before it became a
package; they resolve lazily here (no import cycle) so jobs queued before the move still run.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("cycle", "watch_account"):
        from workers.monitor import watch

        return getattr(watch, name)
    raise AttributeError(name)
