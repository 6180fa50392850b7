"""Waivers: a risk accepted on purpose, for a while. `/trail-audit waive <check> <resource> <days> <reason>` is a
request approved like a fix (its action, `waiver.accept`, makes no AWS call); once executed, the finding it
names shows as WAIVED (who, why, until when) in Slack, the CLI, Security Hub and OCSF, until it ends by
itself (the clock's sweep, with a note in the prompt's thread). Only checks are waivable: never an alert.

What a waiver says (its subject, its document, its sentence) lives here; the store is `workers.state.waivers`,
and the request's status moves (executing -> active -> expired) are the state machine's, committed with the
store and the messages.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from workers.core.check_catalogue import CHECK_SCOPES, GLOBAL
from workers.core.mrkdwn import escape, mention
from workers.resources.findings import uid_of

if TYPE_CHECKING:
    from workers.remediation.approvals import Request

ACTION = "waiver.accept"


def subject(req: Request) -> str:
    """The uid of the finding a waiver request names (its account, region and resource as planned)."""
    check = req.check or ""
    region = GLOBAL if CHECK_SCOPES.get(check) == "account" else req.region
    return uid_of(check, req.account, region, req.resource)


def waiver(req: Request, approver: str | None, now: float) -> dict[str, Any]:
    """The waiver an executed request puts in force."""
    until = now + (req.minutes or 0) * 60
    return {
        "request": req.id,
        "uid": subject(req),
        "check": req.check,
        "account": req.account,
        "region": req.region,
        "resource": req.resource,
        "reason": req.reason,
        "requester": req.requester,
        "approver": approver or "?",
        "since": now,
        "until": until,
        "until_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until)),
    }


def line(doc: dict[str, Any]) -> str:
    """One waiver in a sentence (mrkdwn, its outside text escaped)."""
    return (f"approved by {mention(doc['approver'])} (asked by {mention(doc['requester'])}) until "
            f"{escape(doc['until_iso'])}: {escape(doc['reason'])}")  # fmt: skip
