"""The one finding shape every check produces, and how a set of findings becomes an exit status."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from workers.core import check_catalogue

GLOBAL = check_catalogue.GLOBAL  # the `region` of an account-wide finding (one definition, shared with the web)


class Status(enum.StrEnum):
    """A verdict. Never PASS without the evidence for it."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"


WAIVABLE = (Status.FAIL, Status.ERROR)  # what a waiver covers (a PASS needs none; SKIPPED says nothing)

# Order in which reports list findings: what needs attention first.
STATUS_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.PASS: 2, Status.SKIPPED: 3}


@dataclass(frozen=True)
class Finding:
    """One verdict of one check on one resource."""

    check: str
    status: Status
    account: str
    region: str
    resource: str
    detail: str
    remediation: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        """A stable id per check and what it is about (`uid_of`)."""
        return uid_of(self.check, self.account, self.region, self.resource)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: plain strings, with `status` as its name."""
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of `to_dict` (a `waived` a report adds is left out)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "status": Status(data["status"])})


def uid_of(check: str, account: str, region: str, resource: str) -> str:
    """A stable id per check and what it is about (the same next audit, whatever the verdict): Security Hub's
    finding id, OCSF's uid and what a waiver names. An account or region check is about the account or region
    (its `resource` names the evidence, which changes with the verdict); a trail check, the trail."""
    uid = f"trail-audit/{account}/{region}/{check}"
    if check_catalogue.CHECK_SCOPES.get(check) != "trail":
        return uid
    if len(uid) + 1 + len(resource) <= 512:
        return f"{uid}/{resource}"
    return f"{uid}/sha256:{hashlib.sha256(resource.encode()).hexdigest()[:32]}"


def exit_status(findings: Iterable[Finding], waived: Iterable[str] = ()) -> int:
    """0 when everything passed or was skipped, 1 on any FAIL, 3 on any ERROR without a FAIL; a waived
    finding (its uid in `waived`) does not count."""
    skip = set(waived)
    statuses = {f.status for f in findings if f.uid not in skip}
    if Status.FAIL in statuses:
        return 1
    if Status.ERROR in statuses:
        return 3
    return 0


def overall(findings: Iterable[Finding]) -> Status:
    """The worst verdict among the findings (FAIL over ERROR over PASS); SKIPPED only if all were."""
    statuses = {f.status for f in findings}
    for status in (Status.FAIL, Status.ERROR, Status.PASS):
        if status in statuses:
            return status
    return Status.SKIPPED


def sort_key(finding: Finding) -> tuple[int, str, str, str, str]:
    """Failures first, then errors; stable by check, account, region and resource."""
    return (STATUS_ORDER[finding.status], finding.check, finding.account, finding.region, finding.resource)


def annotate(findings: list[dict[str, Any]], waivers: dict[str, dict[str, Any]]) -> int:
    """Mark the FAIL and ERROR findings (JSON form) that a waiver covers; returns how many."""
    count = 0
    for f in findings:
        found = waivers.get(uid_of(f["check"], f["account"], f["region"], f["resource"]))
        if found and f["status"] in WAIVABLE:
            f["waived"] = shown(found)
            count += 1
    return count


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    """A waiver as a finding's JSON carries it: `{"by", "approved_by", "reason", "until"}` (and its request)."""
    return {"by": doc["requester"], "approved_by": doc["approver"], "reason": doc["reason"],
            "until": doc["until_iso"], "request": doc["request"]}  # fmt: skip
