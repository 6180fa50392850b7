"""The check registry: stable ids, each a pure function from gathered facts to a verdict.

A check returns a `Verdict`; `evaluate` turns verdicts into findings with account, region, resource and the
remediation that applies. A check never sees an API answer it did not get: a missing answer is an `ApiError`,
and every check turns one into ERROR, not PASS. The checks themselves live in their resource's module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from workers.aws.errors import ApiError
from workers.resources.facts import AccountFacts
from workers.resources.findings import GLOBAL, Finding, Status


class Scope(enum.StrEnum):
    """What one finding of a check is about."""

    ACCOUNT = "account"
    TRAIL = "trail"
    REGION = "region"


@dataclass(frozen=True)
class Verdict:
    """A check's answer before it is placed: status, a human sentence, the evidence, and the fix."""

    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: str | None = None  # overrides the check's default fix (on FAIL only)
    resource: str | None = None  # overrides the resource (account checks that name a trail)


def error_verdict(error: ApiError, what: str = "") -> Verdict:
    """ERROR, naming the API error and the IAM action that was missing."""
    prefix = f"Could not verify {what}: " if what else "Could not verify: "
    return Verdict(Status.ERROR, prefix + error.sentence(), {"error": error.to_dict()})


@dataclass(frozen=True)
class Check:
    """A registered check."""

    id: str
    scope: Scope
    title: str
    remediation: str | None
    func: Callable[..., Verdict]


CHECKS: dict[str, Check] = {}


def check(check_id: str, scope: Scope, title: str, remediation: str | None = None) -> Callable[..., Any]:
    """Register a check under its stable id."""

    def register(func: Callable[..., Verdict]) -> Callable[..., Verdict]:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id} is registered twice")
        CHECKS[check_id] = Check(check_id, scope, title, remediation, func)
        return func

    return register


def get_check(check_id: str) -> Check:
    """The check with this id; the error lists the valid ids."""
    try:
        return CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check {check_id!r}; valid checks: {', '.join(sorted(CHECKS))}") from None


def evaluate(facts: AccountFacts) -> list[Finding]:
    """Every registered check, on every trail, region or account it applies to."""
    findings: list[Finding] = []
    for chk in CHECKS.values():
        findings.extend(_run(chk, facts))
    return findings


def evaluate_one(chk: Check, facts: AccountFacts) -> list[Finding]:
    """One check, on every trail, region or account it applies to."""
    return list(_run(chk, facts))


def _run(chk: Check, facts: AccountFacts) -> Iterator[Finding]:
    if chk.scope is Scope.REGION:
        for region in facts.regions:
            if not region.enabled:
                yield _place(chk, facts, region.region, region.region, _skipped(region.region))
            else:
                yield _place(chk, facts, region.region, region.region, chk.func(region))
    elif chk.scope is Scope.TRAIL:
        for tf in facts.trails():
            verdict = chk.func(tf)
            owner = tf.arn.split(":")[4]
            if verdict.status is Status.FAIL and not facts.owns(tf.arn):
                verdict = Verdict(
                    verdict.status,
                    f"{verdict.detail} The trail belongs to account {owner} (an organization trail): fix it there.",
                    verdict.evidence,
                )
                yield _place(chk, facts, tf.home_region, tf.arn, verdict, fixable=False)
            else:
                yield _place(chk, facts, tf.home_region, tf.arn, verdict)
        for name, error in facts.trail_list_errors():
            yield _place(chk, facts, name, f"trails in {name}", error_verdict(error, "the trails"))
    elif not facts.enabled():
        yield _place(chk, facts, GLOBAL, facts.account, Verdict(Status.SKIPPED, "No audited region is enabled."))
    else:
        yield _place(chk, facts, GLOBAL, facts.account, chk.func(facts))


def _skipped(region: str) -> Verdict:
    return Verdict(Status.SKIPPED, f"Region {region} is not enabled for this account.")


def _place(
    chk: Check, facts: AccountFacts, region: str, resource: str, verdict: Verdict, fixable: bool = True
) -> Finding:
    fix = (verdict.remediation or chk.remediation) if verdict.status is Status.FAIL and fixable else None
    return Finding(
        check=chk.id,
        status=verdict.status,
        account=facts.account,
        region=region,
        resource=verdict.resource or resource,
        detail=verdict.detail,
        remediation=fix,
        evidence=verdict.evidence,
    )


def unreachable_account(account: str, resource: str, error: ApiError) -> list[Finding]:
    """ERROR findings, one per check, for an account that could not be reached."""
    verdict = error_verdict(error, f"account {account}")
    return [
        Finding(c.id, Status.ERROR, account, GLOBAL, resource, verdict.detail, None, verdict.evidence)
        for c in CHECKS.values()
    ]

