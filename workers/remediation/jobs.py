"""RQ jobs of the approval flow: plan and prompt, execute and re-check, re-enable at a backout's deadline.

The web process creates a request (status `planning`) and enqueues `prepare`; the plan is computed here,
where AWS is reached, and the prompt goes to the alert channel through the outbox. An approval enqueues
`execute`, which plans again from the current state and changes nothing when that differs from what the
approver saw. Every status change is committed (with its audit log entries and the messages about it)
before anything is said in Slack, so a Slack failure never changes what happens in AWS.

A backout's restore is scheduled before its calls are made, and depends only on whether they may have been
made: a backout whose execution ended unknown is restored at its deadline anyway (the safe direction).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.job import Job

from workers.audit import organization
from workers.audit.accounts import Account, AccountError, assumed_account, default_account
from workers.audit.awserrors import ApiError
from workers.audit.engine import recheck
from workers.audit.findings import GLOBAL
from workers.audit.inventory import call
from workers.audit.regions import plan as region_plan
from workers.core import failpoints, logs
from workers.core.mrkdwn import channel, code, escape, mention
from workers.core.settings import Settings
from workers.queue.failures import reason as failure_reason
from workers.queue.queues import MONITOR, URGENT, connection, queue
from workers.remediation import approvals, auditlog, waivers
from workers.remediation import executed as actions
from workers.remediation import registry as remediations
from workers.remediation.approvals import Request, RequestStatus, enqueue_execute
from workers.remediation.registry import Plan, PlanError
from workers.slack import messages as blocks
from workers.slack import outbox
from workers.state import keys

log = logging.getLogger("trail_audit.remediate")
EXECUTE_TIMEOUT = 120
REENABLE_TIMEOUT = 40  # a re-enable makes one or two calls; the sweep's lease (50 s by default) is longer
S = RequestStatus


def _env() -> tuple[Settings, Redis]:
    """The settings, read once, and the Redis connection of a job."""
    settings = Settings()
    return settings, connection(settings)


def account_of(settings: Settings, role_arn: str | None) -> Account:
    """The account a request acts in; raises PlanError when it cannot be reached."""
    acct = assumed_account(settings, role_arn) if role_arn else default_account(settings)
    if isinstance(acct, AccountError):
        raise PlanError(acct.error.sentence())
    return acct


# --- messages (staged inside the transition that they describe) -------------------------------------------


def _tell(pipe: Pipeline, req: Request, name: str, text: str) -> str | None:
    """Stage an ephemeral line to the requester, where they asked."""
    if not req.channel:
        return None
    return outbox.stage(
        pipe, f"req-{req.id}-tell-{name}", req.channel, blocks.ephemeral(text), user=req.requester, kind="ephemeral"
    )


def _in_thread(pipe: Pipeline, req: Request, name: str, message: dict[str, Any]) -> str | None:
    """Stage a reply in the prompt's thread."""
    if not req.prompt_channel:
        return None
    return outbox.stage(pipe, f"req-{req.id}-{name}", req.prompt_channel, message, thread=req.prompt_id())


def _prompt_state(pipe: Pipeline, req: Request, state: str) -> str | None:
    """Stage the prompt's new form (its buttons give way to `state`)."""
    if not req.prompt_channel:
        return None
    return outbox.stage(pipe, req.prompt_id(), req.prompt_channel, blocks.prompt(asdict(req), state=state))


def _commit(conn: Redis, req: Request, to: RequestStatus, expect: set[RequestStatus], stage: Any) -> bool:
    """Move the request and commit the messages `stage(pipe)` returns with it; then queue their delivery."""
    staged: list[str] = []

    def then(pipe: Pipeline) -> None:
        staged.extend(m for m in stage(pipe) if m)

    if not approvals.move(conn, req, to, expect, then):
        return False
    outbox.kick(conn, staged)
    return True


# --- prepare ------------------------------------------------------------------------------------------------


def resolve(acct: Account, settings: Settings, req: Request) -> tuple[str, str]:
    """The request's (region, resource): a trail name becomes its ARN, and its region the trail's home.

    A name is looked for in the home region first (which lists every multi-region trail), then in every
    enabled region (a single-region trail lives only in its own); a name two trails share is refused with
    their ARNs, to choose from.
    """
    if not remediations.on_trail(req.check or remediations.affected_check(req.action)):
        return req.region, req.resource
    if req.resource.startswith("arn:"):
        return remediations.trail_region(req.resource), req.resource
    found = _trails_named(acct, settings.home_region, req.resource)
    if not found:
        regions = region_plan(acct, settings.home_region, settings.regions)
        if isinstance(regions, ApiError):
            raise PlanError(regions.sentence())
        others = [r for r in regions.enabled if r != settings.home_region]
        with ThreadPoolExecutor(max(1, min(16, len(others)))) as pool:
            for trails in pool.map(lambda region: _trails_named(acct, region, req.resource), others):
                found.update(trails)
    if len(found) > 1:
        raise PlanError(f"Several trails are named {code(req.resource[:80])}: give one of their ARNs: "
                        + ", ".join(code(arn) for arn in sorted(found)) + ".")  # fmt: skip
    if found:
        arn, home = next(iter(found.items()))
        return home, arn
    raise PlanError(f"No trail named {code(req.resource[:80])} in account {acct.id}.")


def _trails_named(acct: Account, region: str, name: str) -> dict[str, str]:
    """The trails called `name` that a region lists: ARN -> home region."""
    trails = call(acct, "cloudtrail", region, "DescribeTrails", includeShadowTrails=True)
    if isinstance(trails, ApiError):
        raise PlanError(trails.sentence())
    return {t["TrailARN"]: t["HomeRegion"] for t in trails.get("trailList", []) if t.get("Name") == name}


def current_plan(settings: Settings, acct: Account, req: Request) -> Plan:
    """What the request's action would do now, from the current state. A Restore keeps its plan, with the
    values it was planned against observed again (so a changed state shows as a difference)."""
    if req.action == "restore.last_known_good":
        from workers.monitor import drift  # the monitor's observation is the restore's basis

        planned = Plan.from_dict(req.plan or {"calls": []})
        basis = planned.basis
        if isinstance(basis, dict):
            basis = [basis]
        now = [{**b, "after": drift.current_value(acct, b)} for b in basis or []]
        return Plan(planned.calls, planned.snapshot, now if planned.basis is not None else None)
    return remediations.plan(req.action, acct, req.region, req.resource, settings)


def prepare(request_id: str) -> str:
    """Plan a request from the current state and post its approval prompt in the alert channel."""
    settings, conn = _env()
    logs.setup()
    req = approvals.load(conn, request_id)
    if req.status is not S.PLANNING:
        return req.status.value
    try:
        acct = account_of(settings, req.role_arn)
        req.account = acct.id
        req.prompt_channel = organization.channel_for(settings, acct.id)
        if not req.prompt_channel:
            raise PlanError("TRAIL_AUDIT_ALERT_CHANNEL is not set, so there is nowhere to ask for approval.")
        if req.plan is None:  # a Restore from an alert comes with its plan (the last known good state)
            req.region, req.resource = resolve(acct, settings, req)
            plan = remediations.plan(req.action, acct, req.region, req.resource, settings)
        else:
            plan = Plan.from_dict(req.plan)
    except PlanError as exc:
        _fail_planning(conn, req, str(exc), "cannot be planned")
        return S.FAILED.value
    req.plan = plan.to_dict()
    req.permissions = req.permissions or list(remediations.get(req.action).permissions)
    req.expires = time.time() + settings.approval_minutes * 60
    shown = Request(**{**asdict(req), "status": S.PENDING})

    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "prompted", req.id, req.requester, action=req.action, calls=len(plan.calls))
        return [
            outbox.stage(pipe, req.prompt_id(), req.prompt_channel, blocks.prompt(asdict(shown))),
            _tell(
                pipe,
                req,
                "prompted",
                f"Your request `{req.id}` ({req.action}) awaits approval in {channel(req.prompt_channel)}.",
            ),
        ]

    _commit(conn, req, S.PENDING, {S.PLANNING}, stage)
    return req.status.value


def _fail_planning(conn: Redis, req: Request, why: str, what: str) -> None:
    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "plan_failed", req.id, req.requester, action=req.action, error=why)
        return [_tell(pipe, req, "plan-failed", f":x: Your request `{req.id}` ({req.action}) {what}: {why}")]

    _commit(conn, req, S.FAILED, {S.PLANNING, S.PENDING}, stage)


def prepare_failed(job: Job, connection_: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback of `prepare`: the request fails (not left "planning") and the requester is told."""
    _, conn = _env()
    req = approvals.load(conn, job.args[0])
    if req.status in (S.PLANNING, S.PENDING):
        _fail_planning(conn, req, failure_reason(exc_type, exc, job.timeout), "could not be prepared")


# --- execute --------------------------------------------------------------------------------------------------


def execute(request_id: str) -> str:
    """Check the plan against the current state, make the approved calls, commit the outcome, then say it."""
    settings, conn = _env()
    logs.setup()
    req = approvals.load(conn, request_id)

    def claimed(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "executing", req.id, None, action=req.action)
        return [_prompt_state(pipe, req, ":gear: checking the state, then executing…")]

    req.executing_since = time.time()
    if not _commit(conn, req, S.EXECUTING, {S.APPROVED}, claimed):  # the claim: one execution per request
        return approvals.load(conn, request_id).status.value
    failpoints.hit("execute:claimed")
    if req.action == waivers.ACTION:
        return _waive(conn, req)
    try:
        acct = account_of(settings, req.role_arn)
        fresh = current_plan(settings, acct, req)
    except PlanError as exc:
        return _finish(conn, req, S.FAILED, [{"call": "(none made)", "ok": False, "error": str(exc)}])
    changed = differences(req.plan or {}, fresh.to_dict())
    if changed:
        return _stale(conn, req, changed)
    backout = remediations.get(req.action).backout
    if backout:  # the restore is scheduled before anything is turned off
        req.deadline = time.time() + (req.minutes or 0) * 60
        lead = min(300.0, (req.minutes or 0) * 60 / 2)
        pipe = conn.pipeline(transaction=True)
        pipe.hset(keys.request(req.id), "doc", req.doc())
        pipe.zadd(keys.REENABLE_DUE, {req.id: req.deadline})
        pipe.zadd(keys.REENABLE_REMIND, {req.id: req.deadline - lead})
        pipe.sadd(keys.REQUESTS_ACTIVE, req.id)
        pipe.execute()
        failpoints.hit("execute:deadline-committed")
    started = time.time()
    results = remediations.execute(acct, fresh)
    failpoints.hit("execute:calls-made")
    _record(conn, req, started)
    ok = all(r["ok"] for r in results)
    # a backout's failed call may still have taken effect: it is restored at its deadline anyway
    status = (S.ACTIVE if ok else S.UNKNOWN) if backout else (S.DONE if ok else S.FAILED)
    return _finish(conn, req, status, results)


def _waive(conn: Redis, req: Request) -> str:
    """Put an approved waiver in force: the request is active until it ends, the finding shows as WAIVED."""
    made = approvals.decision(conn, req.id)
    doc = waivers.waiver(req, made.user if made else None, time.time())
    req.deadline = doc["until"]
    req.status = S.ACTIVE
    text = (f":shield: Waiver of {code(req.check or '?')} on {code(req.resource)} in force: "
            f"{waivers.line(doc)}. It ends by itself; the finding counts again then.")  # fmt: skip

    def stage(pipe: Pipeline) -> list[str | None]:
        waivers.stage_accept(pipe, doc)
        auditlog.stage(pipe, "waived", req.id, None, check=req.check, resource=req.resource, until=doc["until_iso"])
        return [
            _in_thread(pipe, req, "waived", {"text": blocks.clip(text, 3000), "blocks": [blocks.section(text)]}),
            _prompt_state(pipe, req, _state_line(req)),
            _tell(pipe, req, "waived", text),
        ]

    _commit(conn, req, S.ACTIVE, {S.EXECUTING}, stage)
    return req.status.value


def end_waiver(conn: Redis, request_id: str) -> bool:
    """A waiver's time is up: it ends (the finding counts again), with a note in its thread. False if it had
    ended already."""
    req = approvals.load(conn, request_id)
    if req.status is not S.ACTIVE or req.action != waivers.ACTION:
        conn.zrem(keys.WAIVERS_DUE, request_id)
        return False
    req.status = S.EXPIRED
    text = (f":hourglass: The waiver of {code(req.check or '?')} on {code(req.resource)} ended: the finding "
            "counts again from the next audit.")  # fmt: skip

    def stage(pipe: Pipeline) -> list[str | None]:
        waivers.stage_end(pipe, req)
        auditlog.stage(pipe, "waiver_ended", req.id, None, check=req.check, resource=req.resource)
        return [
            _in_thread(pipe, req, "waiver-ended", {"text": text, "blocks": [blocks.section(text)]}),
            _prompt_state(pipe, req, ":hourglass: waiver ended"),
        ]

    return _commit(conn, req, S.EXPIRED, {S.ACTIVE}, stage)


def differences(approved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the plan the approver saw and the plan the current state gives (empty: none)."""
    out = []
    if approved.get("calls") != now.get("calls"):
        before = [json.dumps(c["params"], sort_keys=True) for c in approved.get("calls", [])]
        after = [json.dumps(c["params"], sort_keys=True) for c in now.get("calls", [])]
        out.append(
            f"the calls would now be {blocks.clip('; '.join(after) or 'none', 600)} "
            f"instead of {blocks.clip('; '.join(before) or 'none', 600)}"
        )
    if approved.get("snapshot") != now.get("snapshot"):
        out.append(
            "the configuration it would replace changed: "
            f"{blocks.clip(json.dumps(now.get('snapshot'), sort_keys=True), 600)}"
        )
    before_basis = approved.get("basis") or []
    for i, basis in enumerate(now.get("basis") or []):
        was = before_basis[i] if i < len(before_basis) else {}
        if basis != was:
            name = str(basis.get("resource", "")).rsplit("/", 1)[-1]
            out.append(f"`{basis.get('field')}` of `{name}` is now `{basis.get('after')}`, not `{was.get('after')}`")
    return out


def _stale(conn: Redis, req: Request, changed: list[str]) -> str:
    text = (
        f":warning: `{req.id}` was not run: the state changed after it was planned, so nothing was changed. "
        f"{escape('; '.join(changed))}. Request it again if it is still needed."
    )

    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "stale", req.id, None, action=req.action, changes=changed)
        return [
            _in_thread(pipe, req, "stale", {"text": blocks.clip(text, 3000), "blocks": [blocks.section(text)]}),
            _prompt_state(pipe, req, ":warning: not run: the state changed after approval (see the thread)"),
            _tell(pipe, req, "stale", text),
        ]

    _commit(conn, req, S.STALE, {S.EXECUTING}, stage)
    return req.status.value


def _finish(conn: Redis, req: Request, status: RequestStatus, results: list[dict[str, Any]]) -> str:
    """Commit the outcome with its log entries and messages, then queue the re-check."""
    ok = all(r["ok"] for r in results)
    req.status = status
    state = _state_line(req)

    def stage(pipe: Pipeline) -> list[str | None]:
        for r in results:
            auditlog.stage(pipe, "api_call", req.id, None, call=r["call"], ok=r["ok"], error=r.get("error"))
        auditlog.stage(pipe, "executed", req.id, None, action=req.action, ok=ok, status=status.value)
        return [
            _in_thread(pipe, req, "outcome", blocks.outcome(asdict(req), results, None)),
            _prompt_state(pipe, req, state),
            _tell(pipe, req, "outcome", f"Your request `{req.id}` ({req.action}): {state}"),
        ]

    _commit(conn, req, status, {S.EXECUTING}, stage)
    failpoints.hit("execute:committed")
    queue(conn, MONITOR).enqueue("workers.remediation.jobs.recheck_request", req.id, job_timeout=EXECUTE_TIMEOUT)
    return status.value


def _record(conn: Redis, req: Request, started: float, action: str | None = None) -> None:
    """Remember what ran where and when, so the monitor labels the changes it sees as approved."""
    made = approvals.decision(conn, req.id)
    actions.record(
        conn,
        {
            "request": req.id,
            "action": action or req.action,
            "account": req.account,
            "region": req.region,
            "resource": req.resource,
            "requester": req.requester,
            "approver": made.user if made else None,
            "started": started,
            "ended": time.time(),
        },
    )


def _state_line(req: Request) -> str:
    if req.status is S.ACTIVE and req.action == waivers.ACTION and req.deadline:
        return f":shield: waiver in force until {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(req.deadline))}"
    if req.status is S.ACTIVE and req.deadline:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
        return f":double_vertical_bar: backout active until {when}, then restored exactly"
    if req.status is S.UNKNOWN and req.deadline:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
        return f":x: failed, state unknown; restored at {when} anyway (restoring is the safe direction)"
    mark = ":white_check_mark:" if req.status is S.DONE else ":x:"
    return f"{mark} {req.status.value}"


def _recheck(settings: Settings, req: Request) -> dict[str, Any] | None:
    check = req.check or remediations.affected_check(req.action)
    if check is None:
        return None
    region = GLOBAL if check in remediations.ACCOUNT_CHECKS else req.region
    finding = recheck(settings, req.account, check, region, req.resource)
    return finding.to_dict() if finding else None


def execution_failed(job: Job, connection_: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback of `execute`: "failed, state unknown", logged, and a fresh re-check queued.

    A backout that got as far as scheduling its restore keeps that schedule: it is restored at its deadline.
    """
    _, conn = _env()
    _unknown(conn, approvals.load(conn, job.args[0]), failure_reason(exc_type, exc, job.timeout))


def _unknown(conn: Redis, req: Request, why: str) -> None:
    req.status = S.UNKNOWN

    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "execution_failed", req.id, None, action=req.action, reason=why)
        text = f":x: {req.action} `{req.id}` failed, state unknown: {escape(why)}. A fresh re-check follows."
        return [
            _in_thread(pipe, req, "unknown", {"text": text, "blocks": [blocks.section(text)]}),
            _prompt_state(pipe, req, f":x: failed, state unknown ({escape(why)}); re-checking"),
        ]

    if _commit(conn, req, S.UNKNOWN, {S.EXECUTING}, stage):
        queue(conn, MONITOR).enqueue("workers.remediation.jobs.recheck_request", req.id, job_timeout=EXECUTE_TIMEOUT)


def recheck_request(request_id: str) -> dict[str, Any] | None:
    """Audit the request's finding afresh and post it in the prompt's thread (an unknown fix: `rechecked`)."""
    settings, conn = _env()
    req = approvals.load(conn, request_id)
    finding = _recheck(settings, req)
    message = blocks.recheck(req.id, finding)
    backout = remediations.get(req.action).backout
    name = f"recheck-{int(time.time() * 1000)}"
    if req.status is S.UNKNOWN and (not backout or not req.deadline):  # no restore is due: the re-check ends it

        def stage(pipe: Pipeline) -> list[str | None]:
            auditlog.stage(pipe, "rechecked", req.id, None, status=finding["status"] if finding else None)
            return [_in_thread(pipe, req, name, message)]

        _commit(conn, req, S.RECHECKED, {S.UNKNOWN}, stage)
    else:
        auditlog.write(conn, "rechecked", req.id, None, status=finding["status"] if finding else None)
        if req.prompt_channel:
            outbox.send(conn, f"req-{req.id}-{name}", req.prompt_channel, message, thread=req.prompt_id())
    return finding


# --- re-enable ---------------------------------------------------------------------------------------------

RESTORABLE = {S.ACTIVE, S.UNKNOWN, S.EXECUTING}


def reenable(request_id: str, actor: str) -> str:
    """Restore a backout's snapshot exactly (at its deadline, or early by anyone: the safe direction)."""
    settings, conn = _env()
    logs.setup()
    req = approvals.load(conn, request_id)
    if req.status not in RESTORABLE or not remediations.get(req.action).backout:
        conn.zrem(keys.REENABLE_DUE, req.id)
        return req.status.value
    if req.status is S.EXECUTING and time.time() < (req.deadline or 0):
        return "still executing"  # its own job is running; the deadline fires the restore if it hangs
    # held no longer than the sweep's lease, so a re-enable whose worker died is not blocked when fired again
    if not conn.set(keys.request_restoring(req.id), actor, nx=True, ex=int(settings.restore_lease_seconds)):
        return "already restoring"
    failpoints.hit("reenable:locked")
    try:
        return _reenable(settings, conn, req, actor)
    finally:
        conn.delete(keys.request_restoring(req.id))


def _reenable(settings: Settings, conn: Redis, req: Request, actor: str) -> str:
    snapshot = (req.plan or {}).get("snapshot")
    started = time.time()
    if snapshot is None:
        results = [{"call": "(none needed: no snapshot, so nothing was turned off)", "ok": True}]
    else:
        try:
            results = remediations.execute(account_of(settings, req.role_arn), remediations.reenable(snapshot))
        except PlanError as exc:
            results = [{"call": "(none made)", "ok": False, "error": str(exc)}]
    failpoints.hit("reenable:calls-made")
    _record(conn, req, started, "reenable")
    ok = all(r["ok"] for r in results)
    who = "at its deadline" if actor == "deadline" else f"early by {mention(actor)}"
    if not ok:  # the backout stays in force and the restore is tried again: monitoring must come back
        retry = settings.reenable_retry_seconds
        pipe = conn.pipeline(transaction=True)
        for r in results:
            auditlog.stage(pipe, "api_call", req.id, actor, call=r["call"], ok=r["ok"], error=r.get("error"))
        auditlog.stage(pipe, "reenable_failed", req.id, actor, when=who)
        pipe.zadd(keys.REENABLE_DUE, {req.id: time.time() + retry})
        text = f":x: restore of `{req.id}` failed; trying again in {retry:.0f} s"
        mid = _in_thread(
            pipe, req, f"reenable-failed-{int(started)}", blocks.outcome(asdict(req), results, None) | {"text": text}
        )
        pipe.execute()
        outbox.kick(conn, [mid] if mid else [])
        return req.status.value
    req.status = S.RESTORED

    def stage(pipe: Pipeline) -> list[str | None]:
        for r in results:
            auditlog.stage(pipe, "api_call", req.id, actor, call=r["call"], ok=r["ok"], error=r.get("error"))
        auditlog.stage(pipe, "reenabled", req.id, actor, ok=True, when=who)
        pipe.zrem(keys.REENABLE_DUE, req.id)
        pipe.zrem(keys.REENABLE_REMIND, req.id)
        return [
            _in_thread(pipe, req, "restored", blocks.outcome(asdict(req), results, None)),
            _prompt_state(pipe, req, f":white_check_mark: restored {who}"),
        ]

    if _commit(conn, req, S.RESTORED, RESTORABLE, stage):
        failpoints.hit("reenable:committed")
        queue(conn, MONITOR).enqueue("workers.remediation.jobs.recheck_request", req.id, job_timeout=EXECUTE_TIMEOUT)
    return req.status.value


# --- the sweep ---------------------------------------------------------------------------------------------


def sweep_due() -> dict[str, int]:
    """Cron job: re-enable backouts whose deadline passed, remind before it, requeue lost executions, expire."""
    settings, conn = _env()
    now = time.time()
    fired = 0
    for raw in conn.zrangebyscore(keys.REENABLE_DUE, 0, now):
        rid = raw.decode() if isinstance(raw, bytes) else str(raw)
        # the entry stays, a lease ahead: if this re-enable is lost (a killed worker), the next sweep fires it
        conn.zadd(keys.REENABLE_DUE, {rid: now + settings.restore_lease_seconds}, xx=True)
        queue(conn, URGENT).enqueue("workers.remediation.jobs.reenable", rid, "deadline", job_timeout=REENABLE_TIMEOUT)
        fired += 1
    reminded = 0
    for raw in conn.zrangebyscore(keys.REENABLE_REMIND, 0, now):
        rid = raw.decode() if isinstance(raw, bytes) else str(raw)
        if conn.zrem(keys.REENABLE_REMIND, rid):
            req = approvals.load(conn, rid)
            if req.status is S.ACTIVE and req.deadline and req.prompt_channel:
                when = time.strftime("%H:%M:%S UTC", time.gmtime(req.deadline))
                text = (
                    f":alarm_clock: {mention(req.requester)} backout `{rid}` ends at {when}; "
                    f"`/trail-audit reenable {rid}` ends it now."
                )
                outbox.send(
                    conn,
                    f"req-{rid}-remind",
                    req.prompt_channel,
                    {"text": text, "blocks": [blocks.section(text)]},
                    thread=req.prompt_id(),
                )
                reminded += 1
    for req in approvals.approved(conn):  # approved, but its execution was never queued (or was lost)
        made = approvals.decision(conn, req.id)
        stuck = made is not None and now - made.at > settings.stuck_after_seconds
        if stuck and conn.set(keys.request_requeued(req.id), "1", nx=True, ex=int(settings.stuck_after_seconds)):
            enqueue_execute(conn, req.id)
            auditlog.write(conn, "requeued", req.id, None, action=req.action)
    for req in approvals.executing(conn):  # the backstop for an execution whose worker vanished unseen
        if now - (req.executing_since or now) > EXECUTE_TIMEOUT + settings.stuck_after_seconds:
            _unknown(conn, req, "its execution stopped without a word (the worker was lost)")
    expired = sum(
        1
        for req in approvals.pending(conn)
        if req.status is S.PENDING and now > req.expires and approvals.expire(conn, req)
    )
    ended = sum(1 for rid in waivers.due(conn, now) if end_waiver(conn, rid))
    if fired or reminded or expired or ended:
        log.info("sweep", extra={"fired": fired, "reminded": reminded, "expired": expired, "waivers_ended": ended})
    return {"fired": fired, "reminded": reminded, "expired": expired, "waivers_ended": ended}
