"""`GET /metrics`: trail-audit in the Prometheus text format.

The web process counts the slash commands itself (prometheus-client; under gunicorn in multiprocess mode, one
file per process in PROMETHEUS_MULTIPROC_DIR, summed at each scrape). Everything else is read from Redis at
the scrape, so it is the same whichever web process answers and however many workers run elsewhere: queue
depth and failed jobs per queue, alerts raised and open, AWS errors by code and Slack errors by method (the
workers' counts, `workers.state.metrics`), each account's last monitor cycle age, and the outbox backlog.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry

from workers.core.settings import Settings
from workers.queue.queues import QUEUES, queue
from workers.state import alert_records, audits, metrics, monitor_records, outgoing
from workers.state.connection import connection

COMMANDS = Counter("trail_audit_commands", "Slash commands, by subcommand and outcome", ["kind", "outcome"])


def command(kind: str, outcome: str) -> None:
    """Count one slash command (its subcommand, and what became of it)."""
    COMMANDS.labels(kind=kind, outcome=outcome).inc()


class RedisState:
    """A collector reading the shared state at each scrape (a failed read is `trail_audit_redis_up 0`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        """The metrics read from Redis."""
        up = GaugeMetricFamily("trail_audit_redis_up", "Whether the web process could read Redis at this scrape")
        try:
            found = list(self._read())
        except (RedisError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found

    def _read(self) -> Iterator[Metric]:
        conn = connection(self.settings)
        depth = GaugeMetricFamily("trail_audit_queue_depth", "Jobs waiting, per queue", labels=["queue"])
        failed = GaugeMetricFamily("trail_audit_jobs_failed", "Failed jobs kept by RQ, per queue", labels=["queue"])
        for name in QUEUES:
            q = queue(conn, name)
            depth.add_metric([name], len(q))
            failed.add_metric([name], FailedJobRegistry(queue=q).count)
        yield depth
        yield failed
        for name, (text, labels) in metrics.COUNTERS.items():
            family = CounterMetricFamily(f"trail_audit_{name}", text, labels=list(labels))
            for values, value in metrics.totals(conn, name):
                family.add_metric([values.get(label, "") for label in labels], value)
            yield family
        yield GaugeMetricFamily("trail_audit_alerts_open", "Tamper alerts not yet recovered",
                                value=alert_records.open_count(conn))  # fmt: skip
        yield GaugeMetricFamily("trail_audit_outbox_backlog", "Slack messages waiting to be delivered",
                                value=outgoing.backlog(conn))  # fmt: skip
        age = GaugeMetricFamily("trail_audit_monitor_cycle_age_seconds", "Seconds since the monitor last watched an "
                                "account", labels=["account"])  # fmt: skip
        now = time.time()
        for name, cycle in monitor_records.cycles(conn).items():
            age.add_metric([name], max(0.0, now - float(cycle.get("at", 0))))
        yield age
        yield from _pace(monitor_records.coverage(conn) or {})
        yield from _findings(audits.trend(conn)[-1:])


def _findings(last: list[dict[str, object]]) -> Iterator[Metric]:
    """The last audit's findings by status, and what changed since the audit before it (`workers.audit.delta`)."""
    by_status = GaugeMetricFamily("trail_audit_findings", "Findings of the last audit, by status", labels=["status"])
    changed = GaugeMetricFamily("trail_audit_findings_changed", "Findings of the last audit against the one before "
                                "of the same scope: new, resolved, still failing", labels=["change"])  # fmt: skip
    counts = dict(last[0].get("counts") or {}) if last else {}  # type: ignore[call-overload]
    changes = dict(last[0].get("changes") or {}) if last else {}  # type: ignore[call-overload]
    for status in ("PASS", "FAIL", "ERROR", "SKIPPED", "WAIVED"):
        by_status.add_metric([status], float(counts.get(status, 0)))
    for change in ("new", "resolved", "still_failing"):
        changed.add_metric([change], float(changes.get(change, 0)))
    yield by_status
    yield changed


def _pace(paced: dict[str, object]) -> Iterator[Metric]:
    """Whether the workers keep up with the monitor (`workers.monitor.pace`), as of its newest cycle."""
    yield GaugeMetricFamily("trail_audit_monitor_accounts_behind", "Accounts whose watch job of the last cycle had "
                            "not started when the next began", value=float(str(paced.get("behind") or 0)))  # fmt: skip
    if paced.get("load") is not None:
        yield GaugeMetricFamily("trail_audit_monitor_load", "Worker time a monitor cycle needs over the time its "
                                "workers have in an interval (above 0.8: add workers)", value=float(str(paced["load"])))
    suggested = (("suggest_workers", "suggested_workers", "Workers that would watch every account every interval"),
                 ("suggest_interval", "suggested_interval_seconds", "An interval the present workers could keep"))
    for key, name, text in suggested:
        if paced.get(key) is not None:
            yield GaugeMetricFamily(f"trail_audit_monitor_{name}", text, value=float(str(paced[key])))


def render(settings: Settings) -> tuple[bytes, str]:
    """The exposition and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(COMMANDS)
    registry.register(RedisState(settings))
    return generate_latest(registry), CONTENT_TYPE_LATEST
