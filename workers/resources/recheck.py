"""One check on one resource, judged afresh: what runs after a fix, a backout or its restore.

It gathers only what the finding needs, in the request's own account: the one region of a region or trail check
(a trail's facts are gathered in its home region), every enabled audited region for an account check; then it
runs that one check. The same gathering and the same verdicts as a full audit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from workers.aws.accounts import Account
from workers.aws.errors import ApiError
from workers.aws.regions import plan
from workers.core.settings import Settings
from workers.resources.facts import AccountFacts, RegionFacts
from workers.resources.findings import GLOBAL, Finding, Status
from workers.resources.gather import collect_region
from workers.resources.verdicts import Scope, error_verdict, evaluate_one, get_check


def recheck(acct: Account, settings: Settings, check_id: str, region: str, resource: str) -> Finding | None:
    """The finding of `check_id` on `resource` now: None when the resource is gone, ERROR when it could not be
    read."""
    chk = get_check(check_id)
    if chk.scope is Scope.ACCOUNT or region == GLOBAL:
        planned = plan(acct, settings.home_region, settings.regions)
        if isinstance(planned, ApiError):
            verdict = error_verdict(planned, "the enabled regions")
            return Finding(check_id, Status.ERROR, acct.id, GLOBAL, acct.id, verdict.detail, None, verdict.evidence)
        regions, skipped = planned.enabled, planned.skipped
    else:
        regions, skipped = [region], []
    with ThreadPoolExecutor(max(1, min(16, len(regions)))) as pool:
        gathered = list(pool.map(lambda r: collect_region(acct, r, regions, settings.log_retention_days), regions))
    gathered += [RegionFacts(account=acct.id, region=r, enabled=False) for r in skipped]
    facts = AccountFacts(acct.id, sorted(gathered, key=lambda f: f.region))
    found = evaluate_one(chk, facts)
    for finding in found:
        if chk.scope is Scope.ACCOUNT or finding.resource == resource:
            return finding
    # the resource could not be judged (its region's trails could not be listed): that ERROR, never "gone"
    return next((f for f in found if f.status is Status.ERROR and f.region in regions), None)

