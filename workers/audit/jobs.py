"""RQ jobs of an audit: start (plan and fan out), one job per account and region, finish (judge and report).

Enqueued by dotted path (`workers.audit.jobs.start_audit`), so the web process imports nothing of AWS. More
workers on the same Redis finish an audit sooner: the region jobs are independent. The finishing job
depends on all of them and runs even when some failed, so a failure is always reported, never silent.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis
from rq import Callback, Worker
from rq.job import Dependency, Job, JobStatus
from rq.worker import WorkerStatus

from workers.audit import delta, steps
from workers.audit.engine import judge, run_audit
from workers.audit.scheduled import account_of
from workers.aws import organization
from workers.aws.accounts import Account, AccountError, account_for
from workers.aws.errors import ApiError
from workers.aws.regions import RegionPlan, plan
from workers.core import logs
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.failures import reply_meta
from workers.queue.queues import FINISH_TIMEOUT, REGION_TIMEOUT, queue
from workers.resources.facts import RegionFacts
from workers.resources.findings import Finding, annotate, sort_key
from workers.resources.gather import collect_region
from workers.resources.verdicts import unreachable_account
from workers.slack import outbox
from workers.slack.messages.answers import failed, progress
from workers.slack.messages.report import events, report, shown_status
from workers.slack.messages.rollup import ROLLUP_ACCOUNTS
from workers.state import audits, fix_offers, outgoing
from workers.state.connection import connection
from workers.state.transactions import atomic
from workers.state.waivers import in_force

log = logging.getLogger("trail_audit.jobs")
ACCOUNTS_PER_JOB = 10  # beyond this many accounts, an audit is fanned out by batches of accounts
BATCH_TIMEOUT = 900  # seconds a batch of accounts may take (17 regions each, at AWS's pace)
FINISH_PER_ACCOUNT = 0.5  # seconds more the finishing job may take for each account it judges
PROGRESS_EVERY = 1.0  # seconds: never more than one update a second
KEEP = audits.KEEP  # seconds an audit's state is kept



def message_id(audit_id: str) -> str:
    """The outbox id of an audit's message (progress first, then the report in its place)."""
    return outbox.report_id(audit_id)


def start_audit(request: dict[str, Any]) -> str:
    """Plan the audit, post "auditing 0/N regions", and enqueue one job per account and region (beyond
    ACCOUNTS_PER_JOB accounts: one job per batch of accounts, each planning and gathering its own)."""
    settings = Settings()
    logs.setup()
    if request.get("kind") == "events":
        return post_events(settings, request)
    conn = connection(settings)
    audit_id = request["id"]
    roles, unread = organization.roles(settings)
    if request.get("accounts") is not None:  # a scheduled report routed to one channel: its accounts only
        roles = [r for r in roles if account_of(r) in request["accounts"]]
    requested = request.get("regions") or settings.regions
    if len(roles) > ACCOUNTS_PER_JOB:
        return _start_batches(conn, request, roles, unread, requested)
    with ThreadPoolExecutor(max(1, min(settings.max_workers, len(roles)))) as pool:  # a role and a call an account
        targets = [t for t, _ in pool.map(lambda role: _planned(settings, role, requested), roles)]
    if unread is not None:  # the organization's accounts could not be listed: said, never silently fewer
        targets.append({"role_arn": None, "label": "the organization", "error": unread.__dict__, "enabled": [],
                        "skipped": []})  # fmt: skip
    units = [region for t in targets for region in (t["enabled"] if not t.get("error") else [])]
    state = {"request": request, "targets": targets, "total": len(units), "message": message_id(audit_id)}
    audits.save_running(conn, audit_id, state)
    outbox.send(
        conn,
        message_id(audit_id),
        request["channel"],
        progress(0, len(units), [t["label"] for t in targets]),
        response_url=request.get("response_url"),
    )
    q = queue(conn)
    parts = idle_workers(conn) + 1  # this worker is free again once it has enqueued
    jobs = [
        q.enqueue(
            paths.AUDIT_REGIONS,
            audit_id,
            t["role_arn"],
            batch,
            t["enabled"],
            job_timeout=REGION_TIMEOUT,
            result_ttl=KEEP,
            failure_ttl=KEEP,
        )
        for t in targets
        for batch in batches(t["enabled"] if not t.get("error") else [], parts)
    ]
    _enqueue_finish(conn, request, audit_id, jobs, len(targets))
    return audit_id


def _start_batches(
    conn: Redis, request: dict[str, Any], roles: list[str | None], unread: ApiError | None, requested: list[str]
) -> str:
    """An organization's audit: no account is reached here (a thousand would outlast any one job); each batch
    job plans and gathers its accounts, and the finishing job depends on the batches."""
    audit_id = request["id"]
    targets: list[dict[str, Any]] = []
    if unread is not None:
        targets.append({"role_arn": None, "label": "the organization", "error": unread.__dict__, "enabled": [],
                        "skipped": []})  # fmt: skip
    labels = [_label(r) for r in roles]
    state = {"request": request, "targets": targets, "total": len(roles), "unit": "accounts",
             "message": message_id(audit_id), "labels": labels}  # fmt: skip
    audits.save_running(conn, audit_id, state)
    outbox.send(conn, message_id(audit_id), request["channel"], progress(0, len(roles), labels, "accounts"),
                response_url=request.get("response_url"))  # fmt: skip
    q = queue(conn)
    jobs = [
        q.enqueue(
            paths.AUDIT_ACCOUNTS,
            audit_id,
            roles[i : i + ACCOUNTS_PER_JOB],
            requested,
            job_timeout=BATCH_TIMEOUT,
            result_ttl=KEEP,
            failure_ttl=KEEP,
        )
        for i in range(0, len(roles), ACCOUNTS_PER_JOB)
    ]
    _enqueue_finish(conn, request, audit_id, jobs, len(roles) + len(targets))
    return audit_id


def _label(role: str | None) -> str:
    """An account's name before it is reached: the id in its role ARN."""
    return account_of(role) or role or "current credentials"


def audit_accounts(audit_id: str, roles: list[str | None], requested: list[str]) -> dict[str, Any]:
    """One batch of an organization's audit: reach each account (its role, its enabled regions), gather all
    their regions in parallel, and return the plans and the facts. An account is let go (its clients with it)
    as soon as its regions are gathered, so a batch's memory is that of the accounts in flight."""
    settings = Settings()
    logs.setup()
    conn = connection(settings)
    with ThreadPoolExecutor(max(1, min(settings.max_workers, len(roles)))) as pool:
        planned = list(pool.map(lambda role: _planned(settings, role, requested), roles))
    targets = [t for t, _ in planned]
    work = [(acct, region, t["enabled"]) for t, acct in planned if acct is not None for region in t["enabled"]]
    left = {t["label"]: len(t["enabled"]) for t, acct in planned if acct is not None}
    lock = threading.Lock()

    def one(item: tuple[Account, str, list[str]]) -> RegionFacts:
        acct, region, audited = item
        facts = collect_region(acct, region, audited, settings.log_retention_days)
        with lock:
            left[acct.id] -= 1
            done = left[acct.id] == 0
        if done:
            _tick(conn, audit_id, 1)
        return facts

    with ThreadPoolExecutor(min(len(work), settings.max_workers) or 1, thread_name_prefix="ta-job") as pool:
        facts = list(pool.map(one, work))
    _tick(conn, audit_id, sum(1 for t in targets if t["error"]))
    return {"targets": targets, "facts": facts}


def _tick(conn: Redis, audit_id: str, n: int) -> None:
    """Count `n` more units done and move the progress message on (at most once a second; best effort)."""
    if n <= 0:
        return
    try:
        done = audits.count_done(conn, audit_id, n, PROGRESS_EVERY)
        if done is not None:
            _progress(conn, audit_id, done)
    except Exception as exc:  # noqa: BLE001 - progress is best effort: it never fails an audit
        log.warning("progress not updated", extra={"audit": audit_id, "error": type(exc).__name__})


def _enqueue_finish(conn: Redis, request: dict[str, Any], audit_id: str, jobs: list[Job], accounts: int) -> None:
    depends = Dependency(jobs=jobs, allow_failure=True) if jobs else None
    queue(conn).enqueue(
        paths.FINISH_AUDIT,
        audit_id,
        [j.id for j in jobs],
        depends_on=depends,
        job_timeout=FINISH_TIMEOUT + FINISH_PER_ACCOUNT * accounts,
        result_ttl=KEEP,
        failure_ttl=KEEP,
        on_failure=Callback(paths.FAILED),
        meta={"reply": reply_meta(request["channel"], request.get("response_url"), message_id(audit_id))},
    )


def post_events(settings: Settings, request: dict[str, Any]) -> str:
    """`/trail-audit events [hours]`: the watched changes, posted with who, what, where."""
    hours = request.get("hours") or settings.events_hours
    result = run_audit(settings, regions=request.get("regions") or None, events_hours=hours, checks=False)
    assert result.events is not None
    outbox.send(
        connection(settings),
        f"events-{request['id']}",
        request["channel"],
        events(result.events.to_dict()),
        response_url=request.get("response_url"),
    )
    return request["id"]


def _planned(settings: Settings, role: str | None, requested: list[str]) -> tuple[dict[str, Any], Account | None]:
    """An account's plan (its label, enabled and skipped regions, or why it cannot be audited) and the
    account itself when it can be."""
    acct = account_for(settings, role)
    if isinstance(acct, AccountError):
        return {"role_arn": role, "label": acct.label, "error": acct.error.__dict__, "enabled": [], "skipped": []}, None
    pl = plan(acct, settings.home_region, requested)
    if not isinstance(pl, RegionPlan):
        return {"role_arn": role, "label": acct.id, "error": pl.__dict__, "enabled": [], "skipped": []}, None
    return {"role_arn": role, "label": acct.id, "error": None, "enabled": pl.enabled, "skipped": pl.skipped}, acct


def batches(regions: list[str], parts: int) -> list[list[str]]:
    """Regions dealt into at most `parts` batches of near-equal size (round robin), none empty."""
    parts = max(1, min(parts, len(regions)))
    return [regions[i::parts] for i in range(parts)] if regions else []


def idle_workers(conn: Redis) -> int:
    """Workers on the queue that are idle now: an audit is split so that each can take a part."""
    return sum(1 for w in Worker.all(queue=queue(conn)) if w.get_state() == WorkerStatus.IDLE)


def audit_regions(audit_id: str, role_arn: str | None, regions: list[str], audited: list[str]) -> list[RegionFacts]:
    """Gather some regions of one account in parallel; move the progress message on (at most once a second)."""
    settings = Settings()
    logs.setup()
    acct = account_for(settings, role_arn)
    if isinstance(acct, AccountError):
        raise RuntimeError(acct.error.sentence())
    conn = connection(settings)

    def one(region: str) -> RegionFacts:
        facts = collect_region(acct, region, audited, settings.log_retention_days)
        _tick(conn, audit_id, 1)
        return facts

    with ThreadPoolExecutor(min(len(regions), settings.max_workers) or 1, thread_name_prefix="ta-job") as pool:
        return list(pool.map(one, regions))


def _progress(conn: Redis, audit_id: str, done: int) -> None:
    state = audits.running(conn, audit_id)
    if not state:
        return
    labels = state.get("labels") or [t["label"] for t in state["targets"]]
    message = progress(done, state["total"], labels, state.get("unit", "regions"))
    request = state["request"]
    outbox.send(conn, message_id(audit_id), request["channel"], message, response_url=request.get("response_url"))


def finish_audit(audit_id: str, job_ids: list[str]) -> dict[str, Any]:
    """Judge what the region jobs gathered and replace the progress message with the report."""
    settings = Settings()
    conn = connection(settings)
    state = audits.running(conn, audit_id)
    if state is None:
        raise RuntimeError("its state in Redis is gone (expired or lost)")
    request, mid = state["request"], message_id(audit_id)
    jobs = Job.fetch_many(job_ids, connection=conn) if job_ids else []
    batched = state.get("unit") == "accounts"
    broken = [j for j in jobs if j is None or j.get_status() != JobStatus.FINISHED]
    if broken and (not batched or None in broken):
        what = "account batch" if batched else "region"
        reason = f"{len(broken)} of {len(jobs)} {what} jobs did not finish"
        reason += "" if batched else f" (regions {_regions_of(broken)})"
        outbox.send(conn, mid, request["channel"], failed(reason), response_url=request.get("response_url"))
        steps.fail_audit(conn, request, f"the audit did not finish: {reason}")
        return {"status": "failed", "reason": reason}
    state["targets"], facts = _gathered(state["targets"], jobs, batched)
    findings = _judged(state["targets"], facts)
    doc: dict[str, Any] = {
        "id": audit_id,
        "findings": [f.to_dict() for f in findings],
        "summary": {
            "accounts": [t["label"] for t in state["targets"]],
            "unreachable": [t["label"] for t in state["targets"] if t["error"]],
            "regions": sorted({r for t in state["targets"] for r in t["enabled"] + t["skipped"]}),
            "started": state.get("started"),
        },
    }
    annotate(doc["findings"], in_force(conn))
    scope = delta.scope(doc["summary"]["accounts"], doc["summary"]["regions"])
    doc["delta"] = delta.compare(audits.last_of_scope(conn, scope), doc)
    _commit_report(conn, audit_id, request, doc, {t["label"]: t["role_arn"] for t in state["targets"]}, scope)
    if settings.securityhub_export:
        queue(conn).enqueue(paths.EXPORT_REPORT, audit_id, job_timeout=FINISH_TIMEOUT * 5)
    if batched:  # the batches' facts are in the report now: Redis lets them go
        for job in jobs:
            if job is not None:
                job.delete()
    return {"status": "done", "findings": len(findings)}


def _gathered(
    targets: list[dict[str, Any]], jobs: list[Job | None], batched: bool
) -> tuple[list[dict[str, Any]], dict[str, list[RegionFacts]]]:
    """Every target (a lost batch's accounts as ERROR rows, never missing nor PASS) and the facts by account."""
    targets = list(targets)
    facts: dict[str, list[RegionFacts]] = {}
    for job in jobs:
        assert job is not None
        value: Any = job.return_value() if job.get_status() == JobStatus.FINISHED else None
        if batched and value is None:
            targets += [_lost(role, job) for role in job.args[1]]
            continue
        if batched:
            targets += value["targets"]
            value = value["facts"]
        for result in value or []:
            facts.setdefault(result.account, []).append(result)
    return targets, facts


def _judged(targets: list[dict[str, Any]], facts: dict[str, list[RegionFacts]]) -> list[Finding]:
    findings: list[Finding] = []
    for t in targets:
        if t["error"]:
            findings += unreachable_account(t["label"], t["role_arn"] or t["label"], ApiError(**t["error"]))
        else:
            findings += judge(t["label"], facts.get(t["label"], []), t["skipped"])
    return sorted(findings, key=sort_key)


def _commit_report(
    conn: Redis, audit_id: str, request: dict[str, Any], doc: dict[str, Any], roles: dict[str, str | None],
    scope: str,
) -> None:
    """Commit the report with the messages that show it (and, for a rollup, its files); then deliver them."""
    mid, channel = message_id(audit_id), request["channel"]
    fix_ids = {
        i: fix_offers.remember(conn, f, roles.get(f["account"]), mid, channel)
        for i, f in enumerate(doc["findings"])
        if f["status"] == "FAIL" and f.get("remediation")
    }
    message, thread = report(doc, fix_ids)
    with atomic(conn) as pipe:
        audits.stage_report(pipe, audit_id, doc, dict(Counter(shown_status(f) for f in doc["findings"])), scope)
        staged = [outgoing.stage(pipe, mid, channel, message, response_url=request.get("response_url"))]
        staged += [outgoing.stage(pipe, f"{mid}-more-{i}", channel, reply, thread=mid)
                   for i, reply in enumerate(thread)]  # fmt: skip
        staged += steps.stage_audit_done(pipe, conn, request, doc, channel)
        if len(doc["summary"]["accounts"]) > ROLLUP_ACCOUNTS:  # a rollup: every finding in files, in its thread
            staged += [outgoing.stage(pipe, f"{mid}-file-{kind}", channel, {"report": audit_id, "format": kind},
                                      thread=mid, kind="file") for kind in ("json", "csv")]  # fmt: skip
    outbox.kick(conn, staged)


def _lost(role: str | None, job: Job) -> dict[str, Any]:
    """The plan of an account whose batch job failed: unreachable, and why."""
    latest = job.latest_result()
    info = (latest.exc_string if latest is not None else None) or "it did not finish"
    why = info.strip().splitlines()[-1][:200]
    error = ApiError("rq", "AuditAccounts", "JobFailed", f"the job auditing its batch failed: {why}")
    return {"role_arn": role, "label": _label(role), "error": error.__dict__, "enabled": [], "skipped": []}


def _regions_of(jobs: list[Job | None]) -> str:
    names = sorted(r for j in jobs if j is not None for r in j.args[2])
    return ", ".join(names) or "unknown"
