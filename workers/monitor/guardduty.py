"""GuardDuty as a second signal: its findings about CloudTrail, pushed by EventBridge to the same queue.

A finding that names a call trail-audit already alerted (same account and region, the same API, within the
hour) joins that alert ("GuardDuty agrees", its type, severity and id: no second page); one about a change
trail-audit saw nothing of raises its own alert, saying so. A finding is handled once, however often
GuardDuty republishes it and however many consumers read the queue.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

from workers.aws import organization
from workers.core.mrkdwn import code, escape
from workers.core.settings import Settings
from workers.monitor import alerts
from workers.slack import outbox
from workers.state import alert_records, monitor_records

DETAIL_TYPE = "GuardDuty Finding"
ABOUT_CLOUDTRAIL = ("Stealth:IAMUser/CloudTrailLoggingDisabled",)
ANOMALOUS = "DefenseEvasion:IAMUser/AnomalousBehavior"
SERVICES = ("cloudtrail.amazonaws.com", "config.amazonaws.com")
JOIN_WITHIN = 3600  # seconds: a finding joins an alert of the same call raised this recently


@dataclass(frozen=True)
class GuardDutyFinding:
    """The parts of a GuardDuty finding an alert shows."""

    id: str
    type: str
    severity: float
    account: str
    region: str
    api: str
    service: str
    actor: str
    source_ip: str
    title: str


def parse(body: str) -> GuardDutyFinding | str | None:
    """A queue message's GuardDuty finding about CloudTrail or Config; None when the message is not a
    GuardDuty finding at all (another reader's); why not, when it is one this reader does not take."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("source") != "aws.guardduty" or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail: dict[str, Any] = event["detail"] if isinstance(event.get("detail"), dict) else {}
    action = _dig(detail, "service", "action", "awsApiCallAction")
    kind, service = str(detail.get("type") or ""), str(action.get("serviceName") or "")
    if kind not in ABOUT_CLOUDTRAIL and not (kind.startswith(ANOMALOUS) and service in SERVICES):
        return f"GuardDuty finding {kind[:80]!r} is not about CloudTrail or Config"
    if not detail.get("id") or not str(detail.get("accountId") or event.get("account") or "").isdigit():
        return "a GuardDuty finding without an id or an account"
    user = _dig(detail, "resource", "accessKeyDetails")
    try:
        severity = float(detail.get("severity") or 0)
    except (TypeError, ValueError):
        severity = 0.0
    return GuardDutyFinding(
        id=str(detail["id"]), type=kind, severity=severity,
        account=str(detail.get("accountId") or event.get("account")),
        region=str(detail.get("region") or event.get("region") or ""),
        api=str(action.get("api") or ""), service=service,
        actor=str(user.get("userName") or user.get("principalId") or "unknown"),
        source_ip=str(_dig(action, "remoteIpDetails").get("ipAddressV4") or "unknown"),
        title=str(detail.get("title") or kind),
    )  # fmt: skip


def _dig(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    """The object at `path` in a finding, {} where any step is missing or not an object."""
    for key in path:
        found = doc.get(key)
        doc = found if isinstance(found, dict) else {}
    return doc


def record(conn: Redis, settings: Settings, finding: GuardDutyFinding) -> str:
    """Join the finding to the alert of the same call, or raise its own; returns "joined", "raised" or "seen"."""
    now = time.time()
    same = [d for d in alert_records.recent(conn, finding.account, finding.region)
            if (d.get("attribution") or {}).get("name") == finding.api and now - float(d["created"]) < JOIN_WITHIN
            and not d.get("guardduty")]  # fmt: skip
    shown = asdict(finding)
    if same:
        doc = same[0] | {"guardduty": shown}

        def join(pipe: Pipeline) -> str | None:
            return alerts.stage_refresh(conn, pipe, settings, doc)

        staged = monitor_records.once(conn, f"guardduty:{finding.id}", join)
        outcome = "joined"
    else:
        alone = _alert(settings, finding)

        def raise_own(pipe: Pipeline) -> str | None:
            return alerts.stage_group(pipe, settings, [alone])

        staged = monitor_records.once(conn, f"guardduty:{finding.id}", raise_own)
        outcome = "raised"
    if staged is None:
        return "seen"
    outbox.kick(conn, staged)
    return outcome


def _alert(settings: Settings, f: GuardDutyFinding) -> dict[str, Any]:
    story = (f"*What* GuardDuty reports {code(f.type)} (severity {f.severity:g}): {escape(f.title)}; "
             f"{escape(f.api or 'a call')} by {code(f.actor)} from {escape(f.source_ip)}. trail-audit saw no change "
             "of its own for it: the state may have been put back before a poll, or the call is outside what it "
             "watches.")  # fmt: skip
    return alerts.new(settings, {
        "account": f.account, "region": f.region, "kind": "guardduty", "resource": f.api or f.type,
        "field": "event", "key": f"guardduty|{f.id}", "title": f"GuardDuty: {f.type}",
        "before": None, "after": None, "snapshot": {}, "restorable": False, "attribution": None, "approved": None,
        "story": story, "guardduty": asdict(f), "channel": organization.channel_for(settings, f.account),
        "seen_by": "guardduty",
    })  # fmt: skip
