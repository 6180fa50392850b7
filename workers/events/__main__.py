"""`python -m workers.events`: the `events` process of the Procfile (it reads REDIS_URL and
TRAIL_AUDIT_EVENTS_QUEUE_URL from its environment)."""

from __future__ import annotations

from workers.core import logs
from workers.core.settings import load
from workers.events.consumer import run
from workers.state.connection import check_at_start

if __name__ == "__main__":
    logs.setup()
    settings = load()
    check_at_start(settings)
    run(settings)
