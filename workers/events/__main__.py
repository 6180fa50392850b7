"""`python -m workers.events`: the `events` process of the Procfile (it reads REDIS_URL and
TRAIL_AUDIT_EVENTS_QUEUE_URL from its environment)."""

from __future__ import annotations

from workers.core import logs
from workers.core.settings import Settings
from workers.events.consumer import run

if __name__ == "__main__":
    logs.setup()
    run(Settings())
