"""`trail-audit audit --export securityhub`: every finding imported into AWS Security Hub, in its own account.

The default product ARN (`product/<account>/default`) only takes findings an account imports about itself,
so each account's findings go through that account's own session (its assumed role), in the home region,
a hundred a call. The id is stable per check and resource, so the next audit updates each finding in place;
the first import's `CreatedAt` is kept (read back with `securityhub:GetFindings`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from workers.aws.accounts import Account
from workers.aws.errors import AWS_ERRORS, from_exception
from workers.aws.organization import accounts
from workers.core.settings import Settings
from workers.export.asff import exported, to_asff
from workers.resources.findings import WAIVABLE, Finding
from workers.state import audits
from workers.state.waivers import in_force

BATCH = 100  # findings per BatchImportFindings call: the API's most
IDS_PER_LOOKUP = 20  # finding ids per GetFindings filter
ACTIONS = ("securityhub:BatchImportFindings", "securityhub:GetFindings")  # deploy/iam/securityhub-export-policy.json


@dataclass
class Export:
    """What an export did: findings imported per account, and each failure as a sentence."""

    imported: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every finding was imported."""
        return not self.failed


def export(settings: Settings, findings: list[Finding], waivers: dict[str, dict[str, Any]] | None = None) -> Export:
    """Import the findings (not the SKIPPED) into each account's Security Hub; `waivers` by finding uid."""
    home = settings.home_region
    sessions = {a.id: a for a in accounts(settings) if isinstance(a, Account)}
    by_account: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if exported(f):
            by_account[f.account].append(f)
    result = Export()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for account, mine in sorted(by_account.items()):
        acct = sessions.get(account)
        if acct is None:
            result.failed.append(f"{account}: not reachable, so its {len(mine)} findings stay in this report only")
            continue
        client = acct.client("securityhub", home)
        created = _created(client, [f.uid for f in mine])
        docs = [to_asff(f, home, now, created.get(f.uid), (waivers or {}).get(f.uid) if f.status in WAIVABLE else None)
                for f in mine]  # fmt: skip
        result.imported[account] = 0
        for i in range(0, len(docs), BATCH):
            try:
                answer = client.batch_import_findings(Findings=docs[i : i + BATCH])
            except AWS_ERRORS as exc:
                result.failed.append(
                    f"{account}: {from_exception('securityhub', 'BatchImportFindings', exc).sentence()}"
                )
                break
            result.imported[account] += int(answer.get("SuccessCount", 0))
            for bad in answer.get("FailedFindings") or []:
                result.failed.append(f"{account}: {bad.get('Id')}: {bad.get('ErrorCode')} ({bad.get('ErrorMessage')})")
    return result


def export_report(audit_id: str) -> dict[str, Any]:
    """RQ job (TRAIL_AUDIT_SECURITYHUB_EXPORT): import a finished Slack audit's findings, waivers honoured,
    and say in the report's thread what was imported and what failed."""
    from workers.core.mrkdwn import escape
    from workers.slack import outbox
    from workers.slack.messages.kit import clip, section
    from workers.state.connection import connection

    settings = Settings()
    conn = connection(settings)
    doc = audits.report(conn, audit_id)
    if doc is None:
        raise RuntimeError("the audit's report is gone from Redis (expired)")
    done = export(settings, [Finding.from_dict(f) for f in doc["findings"]], in_force(conn))
    text = (
        f":inbox_tray: Security Hub: {sum(done.imported.values())} findings imported into {len(done.imported)} accounts"
    )
    if done.failed:
        text += f"; {len(done.failed)} failures: " + "; ".join(done.failed[:5])
    state = audits.running(conn, audit_id) or {}
    channel = (state.get("request") or {}).get("channel")
    if channel:
        said = escape(text)  # AWS's error messages are outside text, in the notification as in the blocks
        message = {"text": clip(said, 3000), "blocks": [section(said)]}
        outbox.send(conn, f"audit-{audit_id}-securityhub", channel, message, thread=outbox.report_id(audit_id))
    return {"imported": done.imported, "failed": done.failed}


def _created(client: Any, ids: list[str]) -> dict[str, str]:
    """When Security Hub first received each finding it already holds (empty when it cannot say)."""
    out: dict[str, str] = {}
    wanted = set(ids)
    for i in range(0, len(ids), IDS_PER_LOOKUP):
        filters = {"Id": [{"Value": uid, "Comparison": "EQUALS"} for uid in ids[i : i + IDS_PER_LOOKUP]]}
        try:
            for page in client.get_paginator("get_findings").paginate(Filters=filters, MaxResults=100):
                out |= {f["Id"]: f["CreatedAt"] for f in page.get("Findings", []) if f.get("Id") in wanted}
        except AWS_ERRORS:
            return out  # a new CreatedAt then: the finding is still updated in place (same Id)
    return out
