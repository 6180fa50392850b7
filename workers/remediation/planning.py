"""Planning a request: the web process creates it (status `planning`) and enqueues `prepare`; the plan is
computed here, where AWS is reached, and the prompt goes to the alert channel through the outbox.
"""


from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.job import Job

from workers.aws import organization
from workers.aws.accounts import Account, account_of
from workers.aws.calls import call
from workers.aws.errors import ApiError
from workers.aws.regions import plan as region_plan
from workers.core import logs
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import channel, code
from workers.core.settings import Settings
from workers.queue.failures import reason as failure_reason
from workers.remediation import approvals
from workers.remediation.approvals import Request
from workers.remediation.steps import S, commit, env, tell
from workers.resources import actions
from workers.resources.actions import Plan
from workers.resources.arn import trail_region
from workers.slack.messages.prompt import prompt
from workers.state import auditlog, outgoing


def resolve(acct: Account, settings: Settings, req: Request) -> tuple[str, str]:
    """The request's (region, resource): a trail name becomes its ARN, and its region the trail's home.

    A name is looked for in the home region first (which lists every multi-region trail), then in every
    enabled region (a single-region trail lives only in its own); a name two trails share is refused with
    their ARNs, to choose from.
    """
    if not actions.on_trail(req.check or actions.affected_check(req.action)):
        return req.region, req.resource
    if req.resource.startswith("arn:"):
        return trail_region(req.resource), req.resource
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
        from workers.resources import watched  # the monitor's observation is the restore's basis

        planned = Plan.from_dict(req.plan or {"calls": []})
        basis = planned.basis
        if isinstance(basis, dict):
            basis = [basis]
        now = [{**b, "after": watched.current_value(acct, b)} for b in basis or []]
        return Plan(planned.calls, planned.snapshot, now if planned.basis is not None else None)
    return actions.plan(req.action, acct, req.region, req.resource, settings)


def prepare(request_id: str) -> str:
    """Plan a request from the current state and post its approval prompt in the alert channel."""
    settings, conn = env()
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
            plan = actions.plan(req.action, acct, req.region, req.resource, settings)
        else:
            plan = Plan.from_dict(req.plan)
    except PlanError as exc:
        _fail_planning(conn, req, str(exc), "cannot be planned")
        return S.FAILED.value
    req.plan = plan.to_dict()
    req.permissions = req.permissions or list(actions.get(req.action).permissions)
    req.expires = time.time() + settings.approval_minutes * 60
    shown = Request(**{**asdict(req), "status": S.PENDING})

    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "prompted", req.id, req.requester, action=req.action, calls=len(plan.calls))
        return [
            outgoing.stage(pipe, req.prompt_id(), req.prompt_channel, prompt(asdict(shown))),
            tell(
                pipe,
                req,
                "prompted",
                f"Your request `{req.id}` ({req.action}) awaits approval in {channel(req.prompt_channel)}.",
            ),
        ]

    commit(conn, req, S.PENDING, {S.PLANNING}, stage)
    return req.status.value


def _fail_planning(conn: Redis, req: Request, why: str, what: str) -> None:
    def stage(pipe: Pipeline) -> list[str | None]:
        auditlog.stage(pipe, "plan_failed", req.id, req.requester, action=req.action, error=why)
        return [tell(pipe, req, "plan-failed", f":x: Your request `{req.id}` ({req.action}) {what}: {why}")]

    commit(conn, req, S.FAILED, {S.PLANNING, S.PENDING}, stage)


def prepare_failed(job: Job, connection_: Redis, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
    """RQ failure callback of `prepare`: the request fails (not left "planning") and the requester is told."""
    _, conn = env()
    req = approvals.load(conn, job.args[0])
    if req.status in (S.PLANNING, S.PENDING):
        _fail_planning(conn, req, failure_reason(exc_type, exc, job.timeout), "could not be prepared")
