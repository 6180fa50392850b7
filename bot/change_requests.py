"""Turning a slash command, a report's button or a dialog into an approval request (no AWS call here)."""

from __future__ import annotations

import re

from redis import Redis

from bot.commands import Command
from workers.core.check_catalogue import CHECK_SCOPES, GLOBAL, PlanError, fix_for, invalid_region_names
from workers.core.ids import new_id
from workers.core.mrkdwn import code
from workers.core.settings import Settings
from workers.remediation.approvals import Request, role_for
from workers.state import fix_offers


def from_command(cmd: Command, user: str, channel: str | None, settings: Settings) -> Request:
    """The request a `remediate` or `backout` command asks for; raises PlanError with what is wrong."""
    if cmd.name == "backout":
        return _backout(cmd, user, channel, settings)
    if cmd.name == "waive":
        return _waive(cmd, user, channel, settings)
    check = cmd.check or ""
    action = fix_for(check)
    resource = cmd.resource or ""
    region, account = _where(check, resource, settings, "fixed")
    return Request(
        id=new_id(),
        action=action,
        requester=user,
        reason=cmd.reason or "",
        account=account,
        region=region,
        resource=resource,
        check=check,
        channel=channel,
        role_arn=role_for(settings, account or None),
    )


def _waive(cmd: Command, user: str, channel: str | None, settings: Settings) -> Request:
    check, days = cmd.check or "", cmd.days or 0
    if check not in CHECK_SCOPES:
        raise PlanError(f"Unknown check {code(check[:60])}. Valid: {', '.join(sorted(CHECK_SCOPES))}.")
    if days > settings.waiver_max_days:
        raise PlanError(f"A waiver lasts at most {settings.waiver_max_days} days (TRAIL_AUDIT_WAIVER_MAX_DAYS).")
    resource = cmd.resource or ""
    region, account = _where(check, resource, settings, "judged")
    return Request(id=new_id(), action="waiver.accept", requester=user, reason=cmd.reason or "",
                   account=account, region=region, resource=resource, check=check, channel=channel,
                   minutes=days * 24 * 60, role_arn=role_for(settings, account or None))  # fmt: skip


def _where(check: str, resource: str, settings: Settings, verb: str) -> tuple[str, str]:
    """The (region, account) a check's resource names: a region for a region check, the account for an account
    check (its id, or the current one), a trail's account from its ARN (a name: resolved when planned)."""
    scope = CHECK_SCOPES[check]
    if scope == "region":
        if invalid_region_names([resource]):
            raise PlanError(f"{code(check)} is {verb} per region: give a region name, e.g. `us-east-1`.")
        return resource, ""
    if scope == "account":
        return GLOBAL, resource if re.fullmatch(r"[0-9]{12}", resource) else ""
    if resource.startswith("arn:") and resource.count(":") >= 5:
        return settings.home_region, resource.split(":")[4]
    return settings.home_region, ""


def _backout(cmd: Command, user: str, channel: str | None, settings: Settings) -> Request:
    minutes = cmd.minutes if cmd.minutes is not None else min(60.0, settings.backout_max_minutes)
    if minutes > settings.backout_max_minutes:
        raise PlanError(
            f"A backout lasts at most {settings.backout_max_minutes} minutes (TRAIL_AUDIT_BACKOUT_MAX_MINUTES)."
        )
    recorder = cmd.resource == "recorder"
    region = cmd.region or settings.home_region
    resource = region if recorder else (cmd.resource or "")
    account = resource.split(":")[4] if resource.startswith("arn:") and resource.count(":") >= 5 else ""
    return Request(
        id=new_id(),
        action="backout.recorder_off" if recorder else "backout.management_events_off",
        requester=user,
        reason=cmd.reason or "",
        account=account,
        region=region,
        resource=resource,
        channel=channel,
        minutes=minutes,
        role_arn=role_for(settings, account or None),
    )


def from_fix(conn: Redis, fix_id: str, user: str, channel: str | None, reason: str) -> Request:
    """The request behind a report's button; raises PlanError when the id is unknown or expired."""
    fix = fix_offers.recall(conn, fix_id)
    if fix is None:
        raise PlanError("This report's fix button has expired or is not valid: run `/trail-audit` again.")
    return Request(
        id=new_id(),
        action=fix["remediation"],
        requester=user,
        reason=reason,
        account=fix["account"],
        region=fix["region"],
        resource=fix["resource"],
        check=fix["check"],
        channel=channel,
        role_arn=fix["role_arn"],
    )
