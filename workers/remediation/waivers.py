"""Waivers: a risk accepted on purpose, for a while. `/trail-audit waive <check> <resource> <days> <reason>` is a
request approved like a fix (its action, `waiver.accept`, makes no AWS call); once executed, the finding it
names shows as WAIVED (who, why, until when) in Slack, the CLI, Security Hub and OCSF, until it ends by
itself (the clock's sweep, with a note in the prompt's thread). Only checks are waivable: never an alert.

The store is one Redis hash, finding uid -> waiver; the request's status moves (executing -> backout active
-> expired) are the state machine's, committed with the hash and the messages.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.client import Pipeline

from workers.core.catalogue import CHECK_SCOPES, GLOBAL
from workers.core.mrkdwn import escape, mention
from workers.resources.findings import WAIVABLE, uid_of
from workers.state import keys

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


def stage_accept(pipe: Pipeline, doc: dict[str, Any]) -> None:
    """Put a waiver in force (in the caller's commit) and schedule its end."""
    pipe.hset(keys.WAIVERS, doc["uid"], json.dumps(doc))
    pipe.zadd(keys.WAIVERS_DUE, {doc["request"]: doc["until"]})


def stage_end(pipe: Pipeline, req: Request) -> None:
    """End a waiver (in the caller's commit): the finding counts again."""
    pipe.hdel(keys.WAIVERS, subject(req))
    pipe.zrem(keys.WAIVERS_DUE, req.id)


def due(conn: Redis, now: float | None = None) -> list[str]:
    """The request ids of waivers whose time is up."""
    ended = conn.zrangebyscore(keys.WAIVERS_DUE, 0, time.time() if now is None else now)
    return [r.decode() if isinstance(r, bytes) else str(r) for r in ended]


def in_force(conn: Redis, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Every waiver in force, by finding uid (one whose end has passed but not yet been swept is not)."""
    now = time.time() if now is None else now
    out = {}
    for raw in conn.hvals(keys.WAIVERS):
        doc = json.loads(raw)
        if doc.get("until", 0) > now:
            out[doc["uid"]] = doc
    return out


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


def line(doc: dict[str, Any]) -> str:
    """One waiver in a sentence (mrkdwn, its outside text escaped)."""
    return (f"approved by {mention(doc['approver'])} (asked by {mention(doc['requester'])}) until "
            f"{escape(doc['until_iso'])}: {escape(doc['reason'])}")  # fmt: skip
