"""The accounts of an AWS Organization: read at each audit and monitor cycle, so accounts that come and go are
followed without a hand-written list.

With TRAIL_AUDIT_ORG_ROLE_NAME set, `organizations:ListAccounts` (every page; from the management account or a
delegated administrator) gives the accounts; suspended ones are skipped, and so are those named in
TRAIL_AUDIT_ACCOUNTS_EXCLUDE, by id or by organizational unit (`ou-...`, with every OU below it). The role of
that name is assumed in each. TRAIL_AUDIT_ROLE_ARNS keeps working beside it.
"""

from __future__ import annotations

from typing import Any

from workers.aws.accounts import Account, AccountError, assumed_account, default_account
from workers.aws.calls import paginate
from workers.aws.errors import ApiError
from workers.core.settings import Settings

HOME = "us-east-1"  # Organizations answers in us-east-1 (its commercial endpoint)


def role_arns(settings: Settings, caller: Account) -> list[str] | ApiError:
    """The role to assume in every active, not excluded account of the organization, in account id order."""
    found = paginate(caller, "organizations", HOME, "ListAccounts", "Accounts", MaxResults=20)  # the most a page
    if isinstance(found, ApiError):
        return found
    excluded = set(settings.accounts_exclude)
    units = [x for x in excluded if x.startswith("ou-")]
    if units:
        below = _accounts_under(caller, units)
        if isinstance(below, ApiError):
            return below
        excluded |= below
    active = sorted(a["Id"] for a in found if _active(a) and a["Id"] not in excluded)
    return [f"arn:aws:iam::{account}:role/{settings.org_role_name}" for account in active]


def _active(account: dict[str, Any]) -> bool:
    """Not suspended (nor on its way out): `State` where AWS gives it, `Status` otherwise."""
    state = account.get("State") or account.get("Status") or "ACTIVE"
    return str(state).upper() == "ACTIVE"


def _accounts_under(caller: Account, units: list[str]) -> set[str] | ApiError:
    """Every account in the given OUs and the OUs below them."""
    out: set[str] = set()
    pending = list(units)
    while pending:
        unit = pending.pop()
        accounts = paginate(caller, "organizations", HOME, "ListAccountsForParent", "Accounts", ParentId=unit)
        children = paginate(caller, "organizations", HOME, "ListOrganizationalUnitsForParent",
                            "OrganizationalUnits", ParentId=unit)  # fmt: skip
        for answer in (accounts, children):
            if isinstance(answer, ApiError):
                return answer
        out |= {a["Id"] for a in accounts}
        pending += [c["Id"] for c in children]
    return out


def roles(settings: Settings) -> tuple[list[str | None], ApiError | None]:
    """Every account to reach, as the role to assume (None: the current credentials' own account), and why
    the organization's accounts could not be read, if they could not."""
    arns: list[str | None] = list(settings.role_arns)
    if not settings.org_role_name:
        return arns or [None], None
    caller = default_account(settings)
    if isinstance(caller, AccountError):
        return arns, caller.error
    found = role_arns(settings, caller)
    if isinstance(found, ApiError):
        return arns, found
    if not found:  # an audit of nothing would read as all clear
        return arns, ApiError("organizations", "ListAccounts", "NoAccounts", "the organization lists no active account")
    return arns + [arn for arn in found if arn not in arns], None


_PARENTS: dict[str, list[str]] = {}  # account -> its OUs, innermost first (the process's memory of them)


def channel_for(settings: Settings, account: str, default: str | None = "") -> str | None:
    """Where an account's alerts and approval prompts go: its route (by account id, or by the innermost of its
    OUs that has one), else `default` (TRAIL_AUDIT_ALERT_CHANNEL unless given)."""
    routes = settings.routes()
    if account in routes:
        return routes[account]
    if any(key.startswith("ou-") for key in routes):
        for unit in _units_of(settings, account):
            if unit in routes:
                return routes[unit]
    return settings.alert_channel if default == "" else default


def _units_of(settings: Settings, account: str) -> list[str]:
    """The OUs an account sits in, innermost first (`organizations:ListParents` up to the root); empty when the
    organization cannot be read (the account's alerts then go to the alert channel)."""
    if account in _PARENTS:
        return _PARENTS[account]
    caller = default_account(settings)
    if isinstance(caller, AccountError):
        return []
    units: list[str] = []
    child = account
    while True:
        parents = paginate(caller, "organizations", HOME, "ListParents", "Parents", ChildId=child)
        if isinstance(parents, ApiError) or not parents or parents[0].get("Type") != "ORGANIZATIONAL_UNIT":
            break
        child = parents[0]["Id"]
        units.append(child)
    _PARENTS[account] = units
    return units


def accounts(settings: Settings) -> list[Account | AccountError]:
    """Every account to audit: the configured roles and the organization's accounts (`organization.roles`),
    otherwise the current credentials; an organization that cannot be read is one unreachable entry."""
    found, error = roles(settings)
    reached = [assumed_account(settings, arn) if arn else default_account(settings) for arn in found]
    return reached + ([AccountError("the organization", error)] if error else [])
