"""The one finding shape every check produces, and how a set of findings becomes an exit status."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from workers.core import catalogue

GLOBAL = catalogue.GLOBAL  # the `region` of an account-wide finding (one definition, shared with the web)


class Status(enum.StrEnum):
    """A verdict. Never PASS without the evidence for it."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"


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
        """A stable id per check and what it is about (the same next audit, whatever the verdict): Security
        Hub's finding id, OCSF's uid and what a waiver names. An account or region check is about the account
        or region (its `resource` names the evidence, which changes with the verdict); a trail check, the trail."""
        uid = f"trail-audit/{self.account}/{self.region}/{self.check}"
        if catalogue.CHECK_SCOPES.get(self.check) != "trail":
            return uid
        uid += f"/{self.resource}"
        if len(uid) <= 512:
            return uid
        digest = hashlib.sha256(self.resource.encode()).hexdigest()[:32]
        return f"trail-audit/{self.account}/{self.region}/{self.check}/sha256:{digest}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: plain strings, with `status` as its name."""
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of `to_dict`."""
        return cls(**{**data, "status": Status(data["status"])})


def exit_status(findings: Iterable[Finding]) -> int:
    """0 when everything passed or was skipped, 1 on any FAIL, 3 on any ERROR without a FAIL."""
    statuses = {f.status for f in findings}
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
