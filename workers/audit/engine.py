"""An audit in one process: accounts and regions gathered in parallel, then every check judged.

The RQ jobs of the bot run the same pieces (`collect_region`, `judge`) as separate jobs; the CLI runs them
here on a thread pool.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from workers.aws import event_history
from workers.aws.accounts import Account, AccountError, account_label
from workers.aws.errors import ApiError
from workers.aws.organization import accounts
from workers.aws.regions import RegionPlan, plan
from workers.core.settings import Settings
from workers.resources.facts import AccountFacts, RegionFacts
from workers.resources.findings import Finding, exit_status, overall, sort_key
from workers.resources.gather import collect_region
from workers.resources.verdicts import evaluate, unreachable_account

Progress = Callable[[int, int], None]


@dataclass
class AuditResult:
    """Findings for every account and region, the recent changes, and what it cost."""

    findings: list[Finding]
    accounts: list[str]
    regions: list[str]
    events: event_history.EventsReport | None = None
    aws_calls: Counter[str] = field(default_factory=Counter)
    started: str = ""
    seconds: float = 0.0
    unreachable: list[str] = field(default_factory=list)  # accounts (or the organization) not reached

    @property
    def coverage(self) -> str:
        """`N of M accounts covered`: reached, and asked for their regions."""
        return covered(len(self.accounts), len(self.unreachable))

    @property
    def exit_status(self) -> int:
        """The CLI's exit status for these findings."""
        return exit_status(self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `trail-audit audit --format json`."""
        counts = Counter(f.status.value for f in self.findings)
        return {
            "findings": [f.to_dict() for f in self.findings],
            "summary": {
                "overall": overall(self.findings).value,
                "counts": {s: counts.get(s, 0) for s in ("PASS", "FAIL", "ERROR", "SKIPPED")},
                "accounts": self.accounts,
                "unreachable": self.unreachable,
                "covered": self.coverage,
                "regions": self.regions,
                "started": self.started,
                "seconds": round(self.seconds, 3),
                "aws_calls": sum(self.aws_calls.values()),
            },
            "events": self.events.to_dict() if self.events else None,
        }


def covered(total: int, unreachable: int) -> str:
    """`N of M accounts covered`."""
    return f"{total - unreachable} of {total} account{'' if total == 1 else 's'} covered"


def judge(account: str, gathered: list[RegionFacts], skipped: list[str]) -> list[Finding]:
    """Every check on the facts gathered for one account (and its SKIPPED regions), failures first."""
    regions = gathered + [RegionFacts(account=account, region=r, enabled=False) for r in skipped]
    return sorted(evaluate(AccountFacts(account, sorted(regions, key=lambda f: f.region))), key=sort_key)


Unit = tuple[Account, list[str], str]  # an account, its audited regions, one of them


@dataclass(frozen=True)
class Target:
    """An account (or why it could not be reached) and its region plan (or why there is none)."""

    account: Account | AccountError
    plan: RegionPlan | ApiError | None

    def units(self) -> list[Unit]:
        """One unit of work per enabled region."""
        if isinstance(self.account, Account) and isinstance(self.plan, RegionPlan):
            return [(self.account, self.plan.enabled, region) for region in self.plan.enabled]
        return []


def run_audit(
    settings: Settings,
    regions: list[str] | None = None,
    on_progress: Progress | None = None,
    events_hours: int | None = None,
    checks: bool = True,
) -> AuditResult:
    """Audit every configured account in every requested (or enabled) region.

    `events_hours` adds the recent watched changes (LookupEvents) as the `events` section; they are
    looked up alongside the checks and never change a verdict. `checks=False` looks up only the events.
    """
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    requested = regions if regions is not None else settings.regions
    with ThreadPoolExecutor(settings.max_workers, thread_name_prefix="ta-audit") as pool:
        reached = accounts(settings)
        before = {id(a): Counter(a.calls) for a in reached if isinstance(a, Account)}
        targets = list(pool.map(lambda item: _target(item, settings, requested), reached))
        units = [unit for target in targets for unit in target.units()]
        event_future = pool.submit(_events, settings, units, events_hours) if events_hours else None
        findings: list[Finding] = []
        if checks:
            gathered = _gather(pool, units, on_progress, settings.log_retention_days)
            findings = [f for target in targets for f in _judge_target(target, gathered)]
        report = event_future.result() if event_future else None
    calls: Counter[str] = Counter()
    for target in targets:
        if isinstance(target.account, Account):
            calls.update(target.account.calls - before.get(id(target.account), Counter()))
    plans = [t.plan for t in targets if isinstance(t.plan, RegionPlan)]
    return AuditResult(
        findings=sorted(findings, key=sort_key),
        accounts=[account_label(t.account) for t in targets],
        regions=sorted({r for pl in plans for r in pl.enabled + pl.skipped}),
        events=report,
        unreachable=[account_label(t.account) for t in targets if not isinstance(t.plan, RegionPlan)],
        aws_calls=calls,
        started=started.isoformat(),
        seconds=time.monotonic() - t0,
    )


def _target(item: Account | AccountError, settings: Settings, requested: list[str]) -> Target:
    if isinstance(item, AccountError):
        return Target(item, None)
    return Target(item, plan(item, settings.home_region, requested))


def _gather(
    pool: ThreadPoolExecutor, units: list[Unit], on_progress: Progress | None, retention_days: int
) -> dict[str, list[RegionFacts]]:
    """Collect every unit in parallel, reporting progress as each region finishes."""
    if on_progress:
        on_progress(0, len(units))
    futures: dict[Future[RegionFacts], Account] = {
        pool.submit(collect_region, acct, region, audited, retention_days): acct for acct, audited, region in units
    }
    gathered: dict[str, list[RegionFacts]] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        gathered.setdefault(futures[future].id, []).append(future.result())
        if on_progress:
            on_progress(done, len(units))
    return gathered


def _judge_target(target: Target, gathered: dict[str, list[RegionFacts]]) -> list[Finding]:
    acct, pl = target.account, target.plan
    if isinstance(acct, AccountError):
        return unreachable_account(account_label(acct), acct.label, acct.error)
    if isinstance(pl, ApiError):
        return unreachable_account(acct.id, acct.id, pl)
    return judge(acct.id, gathered.get(acct.id, []), pl.skipped if pl else [])


def _events(settings: Settings, units: list[Unit], hours: int) -> event_history.EventsReport:
    limiter = event_history.RateLimiter()
    found: list[event_history.ChangeEvent] = []
    errors: list[tuple[str, str, ApiError]] = []
    with ThreadPoolExecutor(max(1, min(len(units), settings.max_workers)), thread_name_prefix="ta-ev") as pool:
        results = [
            (acct, region, pool.submit(event_history.account_changes, acct, region, hours, limiter))
            for acct, _, region in units
        ]
        for acct, region, future in results:
            answer = future.result()
            if isinstance(answer, ApiError):
                errors.append((acct.id, region, answer))
            else:
                found.extend(answer)
    found.sort(key=lambda e: e.time, reverse=True)
    return event_history.EventsReport(hours, found, errors)
