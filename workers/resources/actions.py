"""The action registry: remediations, backouts and restores, each a plan of exact API calls.

A plan is computed from the current state (it reads, never writes), shown to the approver verbatim, and
executed call by call. Plans are idempotent: planned again after they ran, they make the same state (or
nothing). Each action names the IAM permissions it uses (`deploy/iam/remediation-policy.json` is their union,
checked by a test that records every call). The actions themselves live in their resource's module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore import xform_name

from workers.aws.accounts import Account
from workers.aws.errors import AWS_ERRORS, from_exception, iam_action
from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import code
from workers.core.settings import Settings


@dataclass(frozen=True)
class ApiCall:
    """One API call of a plan, exactly as it will be made."""

    service: str
    region: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """`cloudtrail:StartLogging {"Name": "..."} in us-east-1`."""
        return f"{iam_action(self.service, self.operation)} {json.dumps(self.params, sort_keys=True)} in {self.region}"


@dataclass(frozen=True)
class Plan:
    """What an action will do: its calls, and (for a backout) the snapshot to restore later."""

    calls: list[ApiCall]
    snapshot: dict[str, Any] | None = None
    basis: list[dict[str, Any]] | None = None  # a Restore's: the observed values it was planned against

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"calls": [asdict(c) for c in self.calls], "snapshot": self.snapshot, "basis": self.basis}

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> Plan:
        """The inverse of `to_dict`."""
        return Plan([ApiCall(**c) for c in doc["calls"]], doc.get("snapshot"), doc.get("basis"))


Planner = Callable[[Account, str, str, Settings], Plan]


@dataclass(frozen=True)
class Remediation:
    """A registered action: what it fixes, the permissions it uses, and how it plans."""

    id: str
    fixes: str | None  # the check it fixes (None for backouts and re-enable)
    permissions: tuple[str, ...]
    planner: Planner
    backout: bool = False


REMEDIATIONS: dict[str, Remediation] = {}


def remediation(
    action_id: str, fixes: str | None, permissions: tuple[str, ...], backout: bool = False
) -> Callable[[Planner], Planner]:
    """Register a planner under `action_id`."""

    def register(func: Planner) -> Planner:
        REMEDIATIONS[action_id] = Remediation(action_id, fixes, permissions, func, backout)
        return func

    return register


def get(action_id: str) -> Remediation:
    """The action named `action_id`; an unknown name lists the valid ones."""
    try:
        return REMEDIATIONS[action_id]
    except KeyError:
        raise PlanError(f"Unknown action {code(action_id)}. Valid: {', '.join(sorted(REMEDIATIONS))}.") from None


def for_check(check_id: str) -> Remediation:
    """The fix of a check; a check without one lists those that have one."""
    for rem in REMEDIATIONS.values():
        if rem.fixes == check_id:
            return rem
    fixable = sorted(r.fixes for r in REMEDIATIONS.values() if r.fixes)
    raise PlanError(f"No fix for {code(check_id)}. Checks with a fix: {', '.join(fixable)}.")


def plan(action_id: str, account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """The exact calls `action_id` would make now on `resource` (a trail ARN, or a region)."""
    return get(action_id).planner(account, region, resource, settings)


def execute(account: Account, planned: Plan) -> list[dict[str, Any]]:
    """Make the plan's calls in order; stop at the first error. Returns one result per call attempted."""
    results: list[dict[str, Any]] = []
    for c in planned.calls:
        client = account.client(c.service, c.region)
        try:
            answer = getattr(client, xform_name(c.operation))(**c.params)
        except AWS_ERRORS as exc:
            err = from_exception(c.service, c.operation, exc)
            results.append({"call": c.text(), "ok": False, "error": err.sentence()})
            break
        answer.pop("ResponseMetadata", None)
        results.append({"call": c.text(), "ok": True})
    return results



def permissions(planned: Plan) -> list[str]:
    """The IAM permissions a plan's calls use (a recorder's role is passed to Config: iam:PassRole)."""
    used = {iam_action(c.service, c.operation) for c in planned.calls}
    if "config:PutConfigurationRecorder" in used:
        used.add("iam:PassRole")
    return sorted(used)


# --- what ends a backout: each resource registers how its snapshot kind is put back -------------------------

Restorer = Callable[[dict[str, Any]], Plan]
RESTORERS: dict[str, Restorer] = {}


def restores(kind: str) -> Callable[[Restorer], Restorer]:
    """Register how a backout snapshot of `kind` is restored exactly."""

    def register(func: Restorer) -> Restorer:
        RESTORERS[kind] = func
        return func

    return register


def reenable(snapshot: dict[str, Any]) -> Plan:
    """The calls that restore a backout's snapshot exactly (no approval needed: the safe direction)."""
    restorer = RESTORERS.get(str(snapshot.get("kind")))
    if restorer is None:
        raise PlanError(f"Unknown snapshot kind {code(str(snapshot.get('kind')))}. Valid: {', '.join(RESTORERS)}.")
    return restorer(snapshot)


@remediation("waiver.accept", None, ())
def accept_waiver(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """A waiver makes no call: it is recorded in force when executed (`workers.remediation.waivers`)."""
    return Plan([])


REENABLE_PERMISSIONS = ("cloudtrail:PutEventSelectors", "config:StartConfigurationRecorder")


@remediation(
    "restore.last_known_good",
    None,
    ("cloudtrail:CreateTrail", "cloudtrail:PutEventSelectors", "cloudtrail:StartLogging", "cloudtrail:UpdateTrail",
     "config:PutConfigurationRecorder", "config:StartConfigurationRecorder", "config:PutDeliveryChannel",
     "iam:PassRole", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
     "kms:EnableKey", "kms:CancelKeyDeletion", "logs:PutMetricFilter", "cloudwatch:PutMetricAlarm"),
)  # fmt: skip
def restore_last_known_good(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Planned from a tamper alert's last known good state (see `workers.drift.restore_plan`), not from here."""
    raise PlanError("A restore is requested from a tamper alert's Restore button, which carries its plan.")


# The check each action affects (re-checked after it runs), for the actions that fix none.
_AFFECTS = {
    "backout.management_events_off": "cloudtrail.trail_management_events",
    "backout.recorder_off": "config.recorder_recording",
}


ACCOUNT_CHECKS = {"cloudtrail.multiregion_management_logging", "cloudtrail.config_change_alarm"}


def affected_check(action_id: str) -> str | None:
    """The check to run again after `action_id`."""
    return get(action_id).fixes or _AFFECTS.get(action_id)


def on_trail(check: str | None) -> bool:
    """Whether a check's (a request's) resource is a trail (a name or an ARN), not a region or the account."""
    return (check or "").startswith("cloudtrail.trail_")

